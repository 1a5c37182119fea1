"""Definitions as text a clinician can review: `carecommons definitions show` prints these, not Python reprs."""

from __future__ import annotations

from carecommons.definitions.model import (
    Agg,
    And,
    Case,
    Compare,
    Expr,
    IndexDate,
    IsNull,
    Lit,
    Not,
    Or,
    Param,
    Patient,
    Window,
)


def _offset(months, days) -> str:
    parts = []
    for v, unit in ((months, "months"), (days, "days")):
        if isinstance(v, Param):
            parts.append(f"{{{v.name}}} {unit}")
        elif v:
            parts.append(f"{v} {unit}")
    return " ".join(parts)


def window_text(w: Window) -> str:
    end = _offset(w.end_months, w.end_days)
    end_text = f"{end} before the index date" if end else "the index date"
    if w.unbounded:
        return f"up to {end_text}"
    return f"after {_offset(w.start_months, w.start_days)} before the index date, up to {end_text}"


def render(e: Expr) -> str:
    """One line per tree, parameters in braces, e.g. ``age >= {min_age} AND exists(bp in events, ...)``."""
    if isinstance(e, Lit):
        return "NULL" if e.value is None else repr(e.value) if isinstance(e.value, str) else str(e.value)
    if isinstance(e, Param):
        return f"{{{e.name}}}"
    if isinstance(e, IndexDate):
        shift = _offset(e.months, e.days)
        return f"(index date - {shift})" if shift else "index date"
    if isinstance(e, Patient):
        return e.attr.value
    if isinstance(e, Agg):
        tie = f", ties: {e.tie}" if e.kind in ("first_value", "last_value") else ""
        return f"{e.kind.value}({e.frame.codelist} in {e.frame.table}, {window_text(e.frame.window)}{tie})"
    if isinstance(e, Compare):
        return f"{render(e.left)} {e.op} {render(e.right)}"
    if isinstance(e, And):
        return " AND ".join(_wrap(i) for i in e.items)
    if isinstance(e, Or):
        return " OR ".join(_wrap(i) for i in e.items)
    if isinstance(e, Not):
        return f"NOT {_wrap(e.item)}"
    if isinstance(e, IsNull):
        return f"{_wrap(e.item)} is missing"
    if isinstance(e, Case):
        whens = "; ".join(f"when {render(c)} then {render(v)}" for c, v in e.whens)
        return f"case {whens}; else {render(e.default)}"
    return repr(e)


def _wrap(e: Expr) -> str:
    text = render(e)
    return f"({text})" if isinstance(e, (And, Or, Case)) else text
