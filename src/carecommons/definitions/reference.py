"""The reference evaluator: the language's meaning written as plain Python loops over rows.

It is deliberately naive (one patient, one index date, one node at a time) so that it reads like the
semantics in definitions.model; the SQL engines are tested against it on tiny tables. Never use it on
real data volumes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from carecommons.definitions.model import (
    Agg,
    AggKind,
    And,
    Case,
    Compare,
    Expr,
    Frame,
    IndexDate,
    IsNull,
    Lit,
    Not,
    Or,
    Patient,
    PatientAttr,
    Window,
)
from carecommons.definitions.plan import Planned, shift

Row = Mapping[str, Any]


def age_at(dob: dt.date, index: dt.date) -> int:
    """Whole years completed on `index` (a 29 February birthday counts on 1 March in non-leap years)."""
    return index.year - dob.year - (1 if (dob.month, dob.day) > (index.month, index.day) else 0)


class _Context:
    def __init__(self, index: dt.date, patient: Row, registration: Row, rows: dict[str, list[Row]], codelists):
        self.index = index
        self.patient = patient
        self.registration = registration
        self.rows = rows
        self.codelists = codelists

    def window_bounds(self, w: Window) -> tuple[dt.date | None, dt.date]:
        start = None if w.unbounded else shift(self.index, int(w.start_months or 0), int(w.start_days or 0))
        return start, shift(self.index, int(w.end_months), int(w.end_days))

    def frame_rows(self, frame: Frame) -> list[Row]:
        codes = self.codelists[frame.codelist]
        start, end = self.window_bounds(frame.window)
        return [
            r
            for r in self.rows.get(frame.table, [])
            if r["code"] in codes and r["date"] <= end and (start is None or r["date"] > start)
        ]


def _agg(node: Agg, ctx: _Context) -> Any:
    rows = ctx.frame_rows(node.frame)
    k = node.kind
    if k == AggKind.EXISTS:
        return bool(rows)
    if k == AggKind.COUNT:
        return len(rows)
    if k == AggKind.FIRST_DATE:
        return min((r["date"] for r in rows), default=None)
    if k == AggKind.LAST_DATE:
        return max((r["date"] for r in rows), default=None)
    valued = [r for r in rows if r.get("value") is not None]
    if not valued:
        return None
    if k == AggKind.MIN_VALUE:
        return min(r["value"] for r in valued)
    if k == AggKind.MAX_VALUE:
        return max(r["value"] for r in valued)
    pick = min if node.tie == "min" else max
    target = min(r["date"] for r in valued) if k == AggKind.FIRST_VALUE else max(r["date"] for r in valued)
    return pick(r["value"] for r in valued if r["date"] == target)


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    return {
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
        "=": a == b,
        "<>": a != b,
    }[op]


def evaluate_expr(node: Expr, ctx: _Context) -> Any:
    """Value of one node for one patient at one index date (None is SQL NULL)."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, IndexDate):
        return shift(ctx.index, int(node.months), int(node.days))
    if isinstance(node, Patient):
        a = node.attr
        if a == PatientAttr.AGE:
            return age_at(ctx.patient["date_of_birth"], ctx.index)
        if a == PatientAttr.REGISTRATION_START:
            return ctx.registration["start_date"]
        return ctx.patient.get(a.value)
    if isinstance(node, Agg):
        return _agg(node, ctx)
    if isinstance(node, Compare):
        return _compare(node.op, evaluate_expr(node.left, ctx), evaluate_expr(node.right, ctx))
    if isinstance(node, And):
        vals = [evaluate_expr(i, ctx) for i in node.items]
        if any(v is False for v in vals):
            return False
        return None if any(v is None for v in vals) else True
    if isinstance(node, Or):
        vals = [evaluate_expr(i, ctx) for i in node.items]
        if any(v is True for v in vals):
            return True
        return None if any(v is None for v in vals) else False
    if isinstance(node, Not):
        v = evaluate_expr(node.item, ctx)
        return None if v is None else not v
    if isinstance(node, IsNull):
        return evaluate_expr(node.item, ctx) is None
    if isinstance(node, Case):
        for cond, value in node.whens:
            if evaluate_expr(cond, ctx) is True:
                return evaluate_expr(value, ctx)
        return evaluate_expr(node.default, ctx)
    raise TypeError(f"reference evaluator cannot evaluate {type(node).__name__}")


def _registration_on(regs: Iterable[Row], index: dt.date) -> Row | None:
    """The registration covering `index`; overlapping spells resolve to the latest start, then lowest practice."""
    covering = [r for r in regs if r["start_date"] <= index and (r.get("end_date") is None or r["end_date"] >= index)]
    if not covering:
        return None
    return sorted(covering, key=lambda r: (-r["start_date"].toordinal(), r["practice_id"]))[0]


def evaluate(
    tables: Mapping[str, list[Row]],
    codelists: Mapping[str, frozenset[str] | set[str]],
    plan: list[Planned],
    index_dates: list[dt.date],
) -> list[dict[str, Any]]:
    """Rows of the engine output contract (definitions.plan.output_columns) for every patient in the
    population at each index date, ordered by (index_date, patient_id)."""
    regs_by_patient: dict[int, list[Row]] = defaultdict(list)
    for r in tables.get("registrations", []):
        regs_by_patient[r["patient_id"]].append(r)
    rows_by_patient: dict[int, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for table in ("events", "medications", "vaccinations"):
        for r in tables.get(table, []):
            rows_by_patient[r["patient_id"]][table].append(r)
    out = []
    for index in sorted(index_dates):
        for patient in sorted(tables.get("patients", []), key=lambda p: p["patient_id"]):
            pid = patient["patient_id"]
            reg = _registration_on(regs_by_patient.get(pid, []), index)
            died = patient.get("date_of_death")
            if reg is None or (died is not None and died <= index):
                continue
            ctx = _Context(index, patient, reg, rows_by_patient.get(pid, {}), codelists)
            row: dict[str, Any] = {
                "patient_id": pid,
                "index_date": index,
                "practice_id": reg["practice_id"],
                "age": age_at(patient["date_of_birth"], index),
                "sex": patient.get("sex"),
                "ethnicity_6": patient.get("ethnicity_6"),
                "imd_decile": patient.get("imd_decile"),
            }
            for p in plan:
                row.update(_flags(p, ctx))
            out.append(row)
    return out


def _flags(p: Planned, ctx: _Context) -> dict[str, Any]:
    c = p.column
    variant = p.variant_for(ctx.registration["practice_id"])
    if variant is None:
        return {f"{c}_den": 0, f"{c}_num": 0, f"{c}_exc": 0, f"{c}_value": None}
    b = variant.bound
    den = evaluate_expr(b.denominator, ctx) is True
    num = den and evaluate_expr(b.numerator, ctx) is True
    exc = den and not num and b.exclusions is not None and evaluate_expr(b.exclusions, ctx) is True
    if b.value is not None:
        v = evaluate_expr(b.value, ctx)
        value = None if v is None else float(v)
    else:
        value = float(num)
    return {f"{c}_den": int(den), f"{c}_num": int(num), f"{c}_exc": int(exc), f"{c}_value": value}
