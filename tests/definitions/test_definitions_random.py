"""Random definitions on random patients give the same answer on every engine.

Hypothesis builds typed expression trees (every node kind, windows in months and days, ties, NULLs) and small
random record sets. The reference evaluator and DuckDB are compared on many examples; DuckDB and Spark on a
few examples, each example packing many random definitions into one plan so Spark starts its job once.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_records import DAY0, records

from carecommons.definitions.definition import Definition, Kind
from carecommons.definitions.model import (
    EVER,
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
    T,
    Window,
    age,
    registration_start,
)
from carecommons.definitions.plan import Planned, Variant

CODELISTS = {"a": frozenset({"A1", "A2"}), "b": frozenset({"B1"}), "m": frozenset({"M1"})}
DATES = [dt.date(2023, 1, 31), dt.date(2023, 6, 30), dt.date(2024, 2, 29)]

windows = st.sampled_from(
    [
        EVER,
        EVER,
        Window(start_months=24),
        Window(start_months=12),
        Window(start_months=1),
        Window(start_months=3),
        Window(start_months=12),
        Window(start_days=45),
        Window(start_months=12, end_months=3),
        Window(start_months=6, start_days=10, end_days=5),
    ]
)
_event_frames = st.builds(Frame, table=st.just("events"), codelist=st.sampled_from(["a", "b"]), window=windows)
frames = st.integers(0, 3).flatmap(
    lambda i: (
        _event_frames if i else st.builds(Frame, table=st.just("medications"), codelist=st.just("m"), window=windows)
    )
)

NUM_AGGS = [AggKind.COUNT, AggKind.MIN_VALUE, AggKind.MAX_VALUE, AggKind.FIRST_VALUE, AggKind.LAST_VALUE]
DATE_AGGS = [AggKind.FIRST_DATE, AggKind.LAST_DATE]
OPS = ["<", "<=", ">", ">=", "=", "<>"]


def num_leaf() -> st.SearchStrategy[Expr]:
    aggs = num_agg()
    lits = st.integers(0, 12).map(lambda v: Lit(float(v * 5 + 100)))
    return st.one_of(aggs, lits, st.just(age()), st.integers(0, 4).map(Lit))


def date_expr() -> st.SearchStrategy[Expr]:
    aggs = st.builds(Agg, kind=st.sampled_from(DATE_AGGS), frame=frames)
    lits = st.integers(0, 1200).map(lambda n: Lit(DAY0 + dt.timedelta(days=n)))
    shifted = st.builds(IndexDate, months=st.integers(0, 14), days=st.integers(0, 20))
    return st.one_of(aggs, lits, shifted, st.just(registration_start()))


def bool_expr(depth: int) -> st.SearchStrategy[Expr]:
    leaves = st.one_of(
        st.builds(Agg, kind=st.just(AggKind.EXISTS), frame=frames),
        st.builds(Compare, op=st.sampled_from(OPS), left=num_leaf(), right=num_leaf()),
        st.builds(Compare, op=st.sampled_from(OPS), left=date_expr(), right=date_expr()),
        num_leaf().map(IsNull),
        st.sampled_from([Lit(True), Lit(False), Lit(None, T.BOOL)]),
    )
    if depth == 0:
        return leaves
    sub = bool_expr(depth - 1)
    return st.one_of(
        leaves,
        st.lists(sub, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(sub, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        sub.map(Not),
    )


def num_agg() -> st.SearchStrategy[Expr]:
    return st.builds(Agg, kind=st.sampled_from(NUM_AGGS), frame=frames, tie=st.sampled_from(["min", "max"]))


def value_expr() -> st.SearchStrategy[Expr]:
    """Branch chosen explicitly so numeric aggregations, bands and logic all get drawn often."""
    case = st.builds(
        lambda c1, v1, c2, v2, dflt: Case(((c1, v1), (c2, v2)), dflt),
        bool_expr(1),
        num_leaf(),
        bool_expr(1),
        num_leaf(),
        num_leaf(),
    )
    compare = st.builds(Compare, op=st.sampled_from(OPS), left=num_agg(), right=num_leaf())
    branches = [num_agg(), num_agg(), case, bool_expr(2), compare, num_leaf()]
    return st.integers(0, len(branches) - 1).flatmap(lambda i: branches[i])


def _plan(values: list[Expr]) -> list[Planned]:
    out = []
    for i, v in enumerate(values):
        d = Definition(f"R{i}", "1", "random", "random", Kind.VARIABLE, numerator=Lit(True), value=v)
        out.append(Planned(d.id, "1", d.kind, (Variant(d.bound()),)))
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        for col, va in a[key].items():
            vb = b[key][col]
            if isinstance(va, float) and isinstance(vb, float):
                assert va == pytest.approx(vb), (key, col)
            else:
                assert va == vb, (key, col)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=records(), values=st.lists(value_expr(), min_size=1, max_size=4))
def test_reference_and_duckdb_agree(run_on, data, values):
    plan = _plan(values)
    _assert_same(run_on("reference")(data, CODELISTS, plan, DATES), run_on("duckdb")(data, CODELISTS, plan, DATES))


@pytest.mark.spark
@pytest.mark.slow
@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(data=records(), values=st.lists(value_expr(), min_size=12, max_size=12))
def test_duckdb_and_spark_agree(run_on, data, values):
    plan = _plan(values)
    _assert_same(run_on("duckdb")(data, CODELISTS, plan, DATES), run_on("spark")(data, CODELISTS, plan, DATES))
