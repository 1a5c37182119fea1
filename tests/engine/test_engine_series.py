"""The time-series path (running summaries per patient bucket) gives exactly the rows of one run per index date.

Two checks: the London library over a SQL-generated store at 24 month ends equals 24 single-date runs and the
bucket path; and Hypothesis plans the series path accepts (windows sharing one end, starts on
exists / last date / last value) on random records equal the reference evaluator.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_records import DAY0, records

from carecommons.core.dates import month_ends
from carecommons.core.errors import InvalidInput
from carecommons.core.schema import TABLES_BY_NAME
from carecommons.definitions.definition import Definition, Kind
from carecommons.definitions.model import (
    EVER,
    Agg,
    AggKind,
    And,
    Compare,
    Expr,
    Frame,
    IndexDate,
    IsNull,
    Lit,
    Not,
    Or,
    Window,
)
from carecommons.definitions.plan import Planned, Variant
from carecommons.definitions.reference import evaluate
from carecommons.engine.backends import duckdb_rows
from carecommons.engine.compiler import compile_plan
from carecommons.engine.runner import practice_chains
from carecommons.store.analytics import create_tables

INDEX = dt.date(2025, 3, 31)


def _keyed(rows: list[dict]) -> dict[tuple[int, dt.date], dict]:
    return {(int(r["patient_id"]), r["index_date"]): r for r in rows}


def test_24_month_ends_equal_24_single_date_runs_and_the_bucket_path(store, library):
    plan = library.plan(practice_chains(store))
    codes = library.codes()
    dates = month_ends(INDEX, 24)
    series = compile_plan(plan, codes, dates, "duckdb")
    assert series.n_buckets == 24  # the series path: one bucket edge per index date
    got = _keyed(duckdb_rows(store, series))
    singles: dict[tuple[int, dt.date], dict] = {}
    for d in dates:
        singles.update(_keyed(duckdb_rows(store, compile_plan(plan, codes, [d], "duckdb"))))
    assert len(got) > 24 * 400
    assert got == singles
    buckets = _keyed(duckdb_rows(store, compile_plan(plan, codes, dates, "duckdb", strategy="buckets")))
    assert got == buckets


def test_series_strategy_refuses_plans_it_cannot_run():
    d = Definition(
        "X",
        "1",
        "x",
        "x",
        Kind.VARIABLE,
        numerator=Lit(True),
        value=Agg(AggKind.COUNT, Frame("events", "a", Window(12))),
    )
    plan = [Planned("X", "1", d.kind, (Variant(d.bound()),))]
    with pytest.raises(InvalidInput, match="series path"):
        compile_plan(plan, {"a": frozenset({"A1"})}, [INDEX], strategy="series")
    with pytest.raises(InvalidInput, match="strategy"):
        compile_plan(plan, {"a": frozenset({"A1"})}, [INDEX], strategy="fastest")
    # auto falls back to the bucket path and still runs
    assert compile_plan(plan, {"a": frozenset({"A1"})}, month_ends(INDEX, 3)).n_buckets > 3


# ---- random plans the series path accepts, on random records, against the reference evaluator ------------

CODELISTS = {"a": frozenset({"A1", "A2"}), "b": frozenset({"B1"}), "m": frozenset({"M1"})}
DATES = [
    dt.date(2023, 1, 31),
    dt.date(2023, 2, 28),
    dt.date(2023, 3, 31),
    dt.date(2023, 6, 30),
    dt.date(2023, 7, 31),
    dt.date(2024, 2, 29),
]
ENDS = [(0, 0), (0, 5), (3, 0)]
STARTS = [None, (12, 0), (1, 0), (0, 45), (6, 10), (24, 0)]


@st.composite
def series_plans(draw) -> list[Expr]:
    end_m, end_d = draw(st.sampled_from(ENDS))

    def window(bounded: bool) -> Window:
        start = draw(st.sampled_from(STARTS)) if bounded else None
        if start is None:
            return EVER if (end_m, end_d) == (0, 0) else Window(end_months=end_m, end_days=end_d)
        return Window(start_months=start[0], start_days=start[1], end_months=end_m, end_days=end_d)

    def frame(bounded: bool) -> Frame:
        if draw(st.integers(0, 3)) == 0:
            return Frame("medications", "m", window(bounded))
        return Frame("events", draw(st.sampled_from(["a", "b"])), window(bounded))

    def agg() -> Expr:
        kind = draw(st.sampled_from(list(AggKind)))
        bounded = kind in (AggKind.EXISTS, AggKind.LAST_DATE, AggKind.LAST_VALUE)
        node = Agg(kind, frame(bounded), draw(st.sampled_from(["min", "max"])))
        if kind in (AggKind.FIRST_DATE, AggKind.LAST_DATE):
            other = draw(
                st.one_of(
                    st.builds(IndexDate, months=st.integers(0, 14), days=st.integers(0, 20)),
                    st.integers(0, 1200).map(lambda n: Lit(DAY0 + dt.timedelta(days=n))),
                )
            )
            return Compare(draw(st.sampled_from(["<", ">=", "="])), node, other)
        if kind in (AggKind.MIN_VALUE, AggKind.MAX_VALUE, AggKind.FIRST_VALUE, AggKind.LAST_VALUE):
            return draw(st.sampled_from([node, IsNull(node), Compare(">", node, Lit(125.0))]))
        return node

    values = []
    for _ in range(draw(st.integers(1, 6))):
        shape = draw(st.integers(0, 3))
        if shape == 0:
            values.append(And((_bool(agg()), _bool(agg()))))
        elif shape == 1:
            values.append(Or((_bool(agg()), Not(_bool(agg())))))
        else:
            values.append(agg())
    return values


def _bool(e: Expr) -> Expr:
    return e if e.type.value == "bool" else IsNull(e)


def _load(tables: dict[str, list[dict]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_tables(con)
    defaults = {"load_id": "test", "practice_id": "P1", "sex": "U"}
    for name, rows in tables.items():
        cols = TABLES_BY_NAME[name].columns
        if rows:
            marks = ", ".join("?" for _ in cols)
            con.executemany(
                f"INSERT INTO {name} VALUES ({marks})",
                [tuple(r.get(c.name, defaults.get(c.name)) for c in cols) for r in rows],
            )
    return con


def _norm(rows: list[dict]) -> dict:
    out = {}
    for r in rows:
        out[(int(r["patient_id"]), r["index_date"])] = {
            k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in r.items()
        }
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=records(max_patients=6, max_value=6, min_events=0, ordered_registrations=False), values=series_plans())
def test_series_path_equals_the_reference_evaluator(data, values):
    plan = []
    for i, v in enumerate(values):
        d = Definition(f"R{i}", "1", "random", "random", Kind.VARIABLE, numerator=Lit(True), value=v)
        plan.append(Planned(d.id, "1", d.kind, (Variant(d.bound()),)))
    con = _load(data)
    got = _norm(duckdb_rows(con, compile_plan(plan, CODELISTS, DATES, "duckdb", strategy="series")))
    want = _norm(evaluate(data, CODELISTS, plan, DATES))
    assert got == want
