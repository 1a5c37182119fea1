"""A practice's rule results are reused only on a read-only store whose file and population are unchanged;
governance, the audit entry and the invitation history are still done on every view."""

from __future__ import annotations

import duckdb
import pytest
from care_testdata import INDEX, build_store

from carecommons.care import worklists
from carecommons.care.worklists import WorklistFilters, worklist
from carecommons.governance import audit


@pytest.fixture
def counted(monkeypatch):
    calls: list[int] = []
    real = worklists._evaluate
    monkeypatch.setattr(worklists, "_evaluate", lambda con, rules, index: calls.append(1) or real(con, rules, index))
    monkeypatch.setattr(worklists, "_items_cache", {})
    return calls


def _reasons(rows) -> dict[int, set[str]]:
    return {r.patient_id: {i.rule_id for i in r.items} for r in rows}


def test_read_only_store_reuses_rule_results_and_still_audits(tmp_path, session, people, counted):
    path = tmp_path / "store.duckdb"
    rw = duckdb.connect(str(path))
    build_store(rw)
    rw.close()
    ro = duckdb.connect(str(path), read_only=True)
    try:
        first = worklist(ro, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
        again = worklist(ro, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
        assert counted == [1] and _reasons(again) == _reasons(first) and first
        # Every view is audited, cached or not.
        views = [e for e in audit.entries_for_patient(session, first[0].patient_id) if e.action == "worklist.view"]
        assert len(views) == 2
        # Another index date is another population (ages, registrations): computed again.
        worklist(ro, session, people.manager, "P1", WorklistFilters(index_date=INDEX.replace(year=2025)))
        assert counted == [1, 1]
    finally:
        ro.close()
    # The file changed (a new ingest or run): never reused.
    rw = duckdb.connect(str(path))
    rw.execute("DELETE FROM events WHERE patient_id = 102")
    rw.close()
    ro = duckdb.connect(str(path), read_only=True)
    try:
        changed = worklist(ro, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
        assert counted == [1, 1, 1] and 102 not in _reasons(changed)
    finally:
        ro.close()


def test_writable_store_is_never_cached(con, session, people, counted):
    worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
    con.execute("DELETE FROM events WHERE patient_id = 102")
    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
    assert counted == [1, 1] and 102 not in _reasons(rows)
