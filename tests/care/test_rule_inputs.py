"""The worklist's in-memory summary of the store (care.rule_inputs) gives exactly the lists a scan of the
events gives, is used only where it is exact, and is dropped when the store file changes."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from care_testdata import HBA1C, INDEX, SYS, build_store, code

from carecommons.care import rule_inputs, worklists
from carecommons.care.worklists import WorklistFilters, worklist

IFCC = code("nhsd-primary-care-domain-refsets-ifcchbam_cod")  # the second HbA1c codelist of the rules


@pytest.fixture
def store(tmp_path):
    """The care test store plus the cases a summary could get wrong: two HbA1c codelists with different
    readings on the same latest date (the lowest counts), a later HbA1c without a value (a recall date, not a
    reading), and a tie of systolic readings on one date."""
    path = tmp_path / "store.duckdb"
    rw = duckdb.connect(str(path))
    build_store(rw)
    rw.executemany(
        "INSERT INTO events VALUES (?, 'P1', ?, ?, ?, NULL, 'L1')",
        [
            (106, HBA1C, dt.date(2026, 5, 20), 62.0),
            (106, IFCC, dt.date(2026, 5, 20), 57.0),
            (106, HBA1C, dt.date(2026, 5, 25), None),
            (105, SYS, dt.date(2026, 4, 1), 139.0),
        ],
    )
    rw.close()
    rule_inputs.forget()
    yield path
    rule_inputs.forget()


@pytest.fixture
def scans(monkeypatch):
    """How many views read the event slice by scanning the store (the summary's absence or refusal)."""
    calls: list[int] = []
    real = worklists._event_slice
    monkeypatch.setattr(worklists, "_event_slice", lambda con: calls.append(1) or real(con))
    return calls


def _items(rows) -> set[tuple]:
    return {(r.patient_id, i.rule_id, i.last_date, i.value) for r in rows for i in r.items}


def _view(con, session, people, index: dt.date) -> set[tuple]:
    worklists.clear_items_cache()
    return _items(worklist(con, session, people.manager, "P1", WorklistFilters(index_date=index)))


def test_summary_gives_the_scan_s_worklist_and_is_used_only_where_exact(store, session, people, scans):
    con = duckdb.connect(str(store), read_only=True)
    try:
        dates = [INDEX, dt.date(2026, 5, 1), dt.date(2027, 3, 31), dt.date(2026, 5, 24)]
        scanned = {d: _view(con, session, people, d) for d in dates}
        assert len(scans) == len(dates)

        summary = rule_inputs.prepare(con, worklists.rule_lists())
        assert summary is not None and summary.valid_from == dt.date(2026, 5, 25)
        scans.clear()
        for d in dates:
            assert _view(con, session, people, d) == scanned[d], d
        # Index dates before the latest summarised date need the rows the summary dropped: scanned.
        assert len(scans) == 2  # 2026-05-01 and 2026-05-24

        got = scanned[INDEX]
        # Latest HbA1c date 2026-05-20 holds 62 and 57: the lowest, 57, is "the reading", so no DM036 gap;
        # the value-less 2026-05-25 row is not a reading.
        assert not any(pid == 106 and rule == "dm-hba1c-high" for pid, rule, _d, _v in got)
        # Systolic 140 and 139 on one date: 139 is the reading, under the case-finding threshold.
        assert not any(pid == 105 and rule == "possible-hypertension" for pid, rule, _d, _v in got)
        assert (102, "hyp-bp-uncontrolled", dt.date(2026, 3, 1), 150.0) in got
    finally:
        con.close()


def test_summary_is_dropped_when_the_store_file_changes(store, session, people, scans):
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert rule_inputs.prepare(con, worklists.rule_lists()) is not None
        assert (102, "hyp-bp-uncontrolled", dt.date(2026, 3, 1), 150.0) in _view(con, session, people, INDEX)
        assert scans == []
    finally:
        con.close()
    rw = duckdb.connect(str(store))
    rw.execute("DELETE FROM events WHERE patient_id = 102")
    rw.close()
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert rule_inputs.current(con) is None
        assert not any(pid == 102 for pid, *_ in _view(con, session, people, INDEX))
        assert scans == [1]
    finally:
        con.close()


def test_writable_store_is_never_summarised(con, session, people):
    assert rule_inputs.prepare(con, worklists.rule_lists()) is None
    assert rule_inputs.current(con) is None
