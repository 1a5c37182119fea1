"""Run every spec case on every backend and compare with the hand-written expected values.

All cases are evaluated in ONE plan per backend (patients of case k get ids 1000*k + n, each case is one
definition column), so Spark and PostgreSQL pay their start-up cost once; each case is still checked and
reported on its own.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import pytest
from spec_cases import CASES, CODELISTS, Case, d

from carecommons.definitions.plan import Planned, Variant

BACKENDS = [
    "reference",
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("spark", marks=pytest.mark.spark),
]


def _pid(k: int, pid: int) -> int:
    return 1000 * (k + 1) + pid


def _build(cases: list[Case]):
    tables: dict[str, list[dict]] = {
        t: [] for t in ("patients", "registrations", "events", "medications", "vaccinations")
    }
    plan: list[Planned] = []
    dates: set[dt.date] = set()
    for k, c in enumerate(cases):
        for pid, (dob, sex) in c.patients.items():
            tables["patients"].append(
                {
                    "patient_id": _pid(k, pid),
                    "date_of_birth": d(dob),
                    "sex": sex,
                    "date_of_death": d(c.deaths[pid]) if pid in c.deaths else None,
                }
            )
        regs = c.registrations or [(pid, "P1", "2000-01-01", None) for pid in c.patients]
        for pid, practice, start, end in regs:
            tables["registrations"].append(
                {
                    "patient_id": _pid(k, pid),
                    "practice_id": practice,
                    "start_date": d(start),
                    "end_date": d(end) if end else None,
                }
            )
        for pid, code, date, value in c.events:
            tables["events"].append({"patient_id": _pid(k, pid), "code": code, "date": d(date), "value": value})
        for table, rows in (("medications", c.medications), ("vaccinations", c.vaccinations)):
            for pid, code, date in rows:
                tables[table].append({"patient_id": _pid(k, pid), "code": code, "date": d(date)})
        definition = c.definition(f"SPEC{k}")
        variants = [Variant(definition.bound())]
        for practice, params in c.local_params.items():
            variants.append(Variant(definition.bound(params), frozenset({practice}), practice))
        plan.append(Planned(definition.id, "1", definition.kind, tuple(variants)))
        dates.update(c.index_dates)
    return tables, plan, sorted(dates)


@cache
def _batch():
    return _build(CASES)


@pytest.fixture(scope="module")
def results(run_on):
    cache_: dict[str, dict] = {}

    def get(backend: str) -> dict:
        if backend not in cache_:
            tables, plan, dates = _batch()
            cache_[backend] = run_on(backend)(tables, CODELISTS, plan, dates)
        return cache_[backend]

    return get


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", range(len(CASES)), ids=[c.name[:60] for c in CASES])
def test_spec_case(results, backend, k):
    case = CASES[k]
    rows = results(backend)
    col = f"spec{k}_value"
    case_dates = {d(x) if isinstance(x, str) else x for x in case.index_dates}
    got = {
        (pid - 1000 * (k + 1), date.isoformat()): row[col]
        for (pid, date), row in rows.items()
        if 1000 * (k + 1) <= pid < 1000 * (k + 2) and date in case_dates
    }
    assert got == case.expected


def test_cases_cover_every_aggregation_and_node():
    """The spec must exercise every construct of the language, so a new node cannot ship untested."""
    from carecommons.definitions import model

    seen_aggs = set()
    seen_nodes = set()
    for c in CASES:
        for node in model.walk(c.value):
            seen_nodes.add(type(node).__name__)
            if isinstance(node, model.Agg):
                seen_aggs.add(node.kind)
    assert seen_aggs == set(model.AggKind)
    expected_nodes = {"Lit", "IndexDate", "Patient", "Agg", "Compare", "And", "Or", "Not", "IsNull", "Case"}
    assert expected_nodes <= seen_nodes


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_spec_cases_one_index_date_at_a_time(run_on, backend):
    """A run at ONE index date compiles to a different query (windows as plain date ranges, no buckets) than
    a run at several; every case must give its expected values through that path too. Spark checks every
    third date only (each run there costs seconds)."""
    tables, plan, dates = _batch()
    failures = []
    checked = 0
    for date in dates[::3] if backend == "spark" else dates:
        rows = run_on(backend)(tables, CODELISTS, plan, [date])
        assert {day for _pid, day in rows} <= {date}
        for k, case in enumerate(CASES):
            if date not in {d(x) if isinstance(x, str) else x for x in case.index_dates}:
                continue
            col = f"spec{k}_value"
            got = {
                (pid - 1000 * (k + 1), day.isoformat()): row[col]
                for (pid, day), row in rows.items()
                if 1000 * (k + 1) <= pid < 1000 * (k + 2)
            }
            want = {key: v for key, v in case.expected.items() if key[1] == date.isoformat()}
            checked += len(want)
            if got != want:
                failures.append(case.name)
    assert checked > 0
    assert not failures


def _series_groups() -> dict[tuple[int, int], list[int]]:
    """Spec cases the time-series path can run, grouped by their one window end (a plan's windows must share
    it): case numbers per end offset."""
    from carecommons.engine.compiler import _Builder, _definition_columns, series_end

    groups: dict[tuple[int, int], list[int]] = {}
    tables, plan, _dates = _batch()
    for k, planned in enumerate(plan):
        b = _Builder(CODELISTS)
        _definition_columns(b, planned)
        end = series_end(b)
        if end is not None:
            groups.setdefault(end, []).append(k)
    return groups


def test_series_path_covers_most_spec_cases():
    """The series path must see the constructs the library relies on: windows with starts, ties, values."""
    eligible = sum(len(v) for v in _series_groups().values())
    assert eligible >= len(CASES) // 2


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_spec_cases_on_the_series_path(run_on, backend):
    """Every case the series path can run (running summaries per patient bucket, the time-series path) gives
    its expected values on every backend, at all of the case's dates at once."""
    failures = []
    checked = 0
    for _end, ks in sorted(_series_groups().items()):
        cases = [CASES[k] for k in ks]
        tables, plan, dates = _build(cases)
        rows = run_on(backend)(tables, CODELISTS, plan, dates, "series")
        for j, case in enumerate(cases):
            col = f"spec{j}_value"
            case_dates = {d(x) if isinstance(x, str) else x for x in case.index_dates}
            got = {
                (pid - 1000 * (j + 1), day.isoformat()): row[col]
                for (pid, day), row in rows.items()
                if 1000 * (j + 1) <= pid < 1000 * (j + 2) and day in case_dates
            }
            checked += len(case.expected)
            if got != case.expected:
                failures.append(case.name)
    assert checked > 0
    assert not failures
