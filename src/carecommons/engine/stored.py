"""The compact row a run keeps per (patient, index date) while it writes the results tables.

Why it exists: the compiled query's contract (engine.compiler, the same on every backend and in the spec
tests) gives four columns per definition, den/num/exc as 0/1 integers and value as a double. A run over 24
month ends at 1 M patients materialises ~22 M such rows (115 columns), and writing them was the costliest
single operator of a time series. Inside a run nothing needs that width: the three flags fit one byte, and
``value`` repeats ``num`` for every definition without a value expression of its own (all the registers and
indicators of the London library). So the run stores, per definition, one UTINYINT of flag bits plus a value
column only where a definition computes one, and its writers decode them with the expressions below. The
public results tables (results_patient, results_aggregate) are unchanged.
"""

from __future__ import annotations

from carecommons.definitions.plan import BASE_COLUMNS, Planned

#: Bit of each flag in ``{column}_flags``.
FLAG_BITS = {"den": 1, "num": 2, "exc": 4}


def has_own_value(p: Planned) -> bool:
    """True when some variant of the definition computes a value rather than repeating its numerator."""
    return any(v.bound.value is not None for v in p.variants)


def stored_select(plan: list[Planned]) -> str:
    """The SELECT list that turns the compiled query's output (aliased ``q``) into stored rows."""
    cols = [f"q.{c}" for c in BASE_COLUMNS]
    for p in plan:
        c = p.column
        cols.append(f"CAST(q.{c}_den + 2 * q.{c}_num + 4 * q.{c}_exc AS UTINYINT) AS {c}_flags")
        if has_own_value(p):
            cols.append(f"q.{c}_value")
    return ", ".join(cols)


def stored_query(plan: list[Planned], sql: str) -> str:
    """`sql` (a compiled plan) wrapped so it yields stored rows; DuckDB folds the wrapper into the plan, so
    the dropped value columns are never computed."""
    return f"SELECT {stored_select(plan)} FROM ({sql}) AS q"


def flag(p: Planned, name: str, alias: str = "") -> str:
    """A stored flag as 0/1 (an INTEGER, ready to SUM)."""
    prefix = f"{alias}." if alias else ""
    return f"CAST(({prefix}{p.column}_flags & {FLAG_BITS[name]}) > 0 AS INTEGER)"


def value(p: Planned, alias: str = "") -> str:
    """A stored value: the definition's own column, or its numerator as 0.0/1.0 (the compiler's rule)."""
    prefix = f"{alias}." if alias else ""
    if has_own_value(p):
        return f"{prefix}{p.column}_value"
    return f"CAST({flag(p, 'num', alias)} AS DOUBLE)"
