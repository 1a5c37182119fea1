"""Ingest leaves the patient-keyed tables in patient order, so one patient's record is a one-row-group read."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from ingest_builders import snapshot

from carecommons.ingest import ingest
from carecommons.store.clustering import PATIENT_TABLES

pytestmark = pytest.mark.slow


def _ordered(store, table: str) -> bool:
    con = duckdb.connect(str(store), read_only=True)
    try:
        ids = [r[0] for r in con.execute(f"SELECT patient_id FROM {table}").fetchall()]
    finally:
        con.close()
    return len(ids) > 0 and ids == sorted(ids)


def test_ingest_clusters_once_and_a_rerun_changes_nothing(tmp_path):
    from carecommons.synth import generate

    src = tmp_path / "src"
    generate(src, 1000, seed=9, extract_date=dt.date(2026, 11, 1), progress=False, workers=1)
    store = tmp_path / "store.duckdb"
    unclustered = tmp_path / "plain.duckdb"

    first = ingest(store, [src], progress=False)
    plain = ingest(unclustered, [src], progress=False, cluster=False)

    rewritten = {t.table for t in first.clustering if t.rewritten}
    assert {"patients", "events", "registrations", "encounters"} <= rewritten
    assert all(_ordered(store, t) for t in rewritten)
    assert plain.clustering == [] and not _ordered(unclustered, "events")
    assert snapshot(store) == snapshot(unclustered)  # same rows, only their order differs

    again = ingest(store, [src], progress=False)
    assert {e.status for e in again.extracts if e.feed == "gp"} == {"skipped"}
    assert [t.table for t in again.clustering] == list(PATIENT_TABLES)
    assert not any(t.rewritten for t in again.clustering)
    assert all(t.unclustered_rows == 0 for t in again.clustering)
