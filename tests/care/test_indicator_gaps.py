"""Indicator care gaps from the engine's per-patient results, in the worklist; also on a read-only store."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
from care_testdata import INDEX, build_store

from carecommons.care.indicator_gaps import IndicatorGaps
from carecommons.care.worklists import WorklistFilters, worklist
from carecommons.engine.runner import create_results_tables
from carecommons.governance import audit

WHEN = dt.date(2026, 3, 31)
# (patient, definition, den, num, exc): only den & not num & not exc of an *indicator* is a gap.
RESULTS = [
    (101, "HYP008", True, True, False),  # met
    (102, "HYP008", True, False, False),  # gap
    (104, "HYP008", True, False, True),  # excepted
    (105, "HYP_REG", True, False, False),  # not on a register: not a gap
    (106, "FLU65", True, False, False),  # gap
    (107, "HYP008", True, False, False),  # another practice's patient
]


def _write_results(con: duckdb.DuckDBPyConnection) -> None:
    create_results_tables(con)
    con.execute(
        "INSERT INTO results_runs VALUES ('old', 'snap0', 'duckdb', TIMESTAMP '2026-01-01 00:00', "
        "TIMESTAMP '2026-01-01 00:10', ?, ?, ?, 1.0, 10)",
        [json.dumps(["2025-12-31"]), json.dumps(["HYP008"]), json.dumps({"HYP008": "indicator"})],
    )
    con.execute(
        "INSERT INTO results_runs VALUES ('r1', 'snap1', 'duckdb', TIMESTAMP '2026-04-01 00:00', "
        "TIMESTAMP '2026-04-01 00:10', ?, ?, ?, 1.0, 10)",
        [
            json.dumps([WHEN.isoformat()]),
            json.dumps(["HYP008", "HYP_REG", "FLU65"]),
            json.dumps({"HYP008": "indicator", "HYP_REG": "register", "FLU65": "indicator"}),
        ],
    )
    for pid, def_id, den, num, exc in RESULTS:
        practice = "P2" if pid == 107 else "P1"
        con.execute(
            "INSERT INTO results_patient VALUES (?, '1', 'snap1', 'r1', ?, ?, ?, ?, ?, ?, NULL)",
            [def_id, WHEN, pid, practice, den, num, exc],
        )
    # An older run in which 101 had a gap: superseded, must not show.
    con.execute(
        "INSERT INTO results_patient VALUES ('HYP008', '1', 'snap0', 'old', DATE '2025-12-31', 101, 'P1', "
        "true, false, false, NULL)"
    )


def _gaps(rows) -> dict[int, set[str]]:
    return {
        r.patient_id: {i.rule_id for i in r.items if i.rule_id.startswith("indicator:")}
        for r in rows
        if any(i.rule_id.startswith("indicator:") for i in r.items)
    }


def test_indicator_gaps_join_the_worklist(con, session, people):
    _write_results(con)
    source = IndicatorGaps(session, people.manager)
    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX), sources=[source])
    assert _gaps(rows) == {102: {"indicator:HYP008"}, 106: {"indicator:FLU65"}}
    item = next(i for r in rows if r.patient_id == 102 for i in r.items if i.rule_id == "indicator:HYP008")
    assert item.label.startswith("Hypertension: blood pressure at or below 140/90")
    assert "engine.patient_results" in {e.action for e in audit.entries_for_patient(session, 102)}


def test_read_only_store_uses_the_governed_population(tmp_path, session, people):
    path = tmp_path / "store.duckdb"
    rw = duckdb.connect(str(path))
    build_store(rw)
    _write_results(rw)
    rw.close()
    ro = duckdb.connect(str(path), read_only=True)
    try:
        source = IndicatorGaps(session, people.manager)
        rows = worklist(ro, session, people.manager, "P1", WorklistFilters(index_date=INDEX), sources=[source])
        assert _gaps(rows) == {102: {"indicator:HYP008"}, 106: {"indicator:FLU65"}}
    finally:
        ro.close()


def test_no_results_yet_adds_nothing_and_says_so(con, session, people):
    source = IndicatorGaps(session, people.manager)
    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX), sources=[source])
    assert _gaps(rows) == {} and "carecommons run" in source.note
