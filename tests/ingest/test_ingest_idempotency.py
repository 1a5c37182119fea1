"""Loading twice changes nothing; a newer extract supersedes; an older one arriving late is ignored."""

from __future__ import annotations

from pathlib import Path

import duckdb
from ingest_builders import NHS_OK, SYSTOLIC, observation, patient, snapshot, write_gp_fhir
from ingest_sample import EXTRACT, ODS_FHIR, fhir_resources

from carecommons.ingest import ingest


def test_same_sources_twice_change_nothing(sources: Path, tmp_path: Path):
    store = tmp_path / "s.duckdb"
    first = ingest(store, [sources], progress=False)
    before = snapshot(store)
    second = ingest(store, [sources], progress=False)
    assert [e.status for e in first.extracts] == ["loaded", "loaded"]
    assert [e.status for e in second.extracts] == ["skipped", "skipped"]
    assert all("already loaded" in e.note for e in second.extracts)
    assert snapshot(store) == before
    # The raw timestamps did not move either: nothing was rewritten.
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT count(*) FROM load_manifest").fetchone()[0] == sum(len(e.files) for e in first.extracts)
    con.close()


def test_newer_extract_supersedes_older(tmp_path: Path):
    root = tmp_path / "src"
    write_gp_fhir(root, ODS_FHIR, EXTRACT, fhir_resources())
    store = tmp_path / "s.duckdb"
    ingest(store, [root], progress=False)
    newer = {
        "Patient": [patient(1, NHS_OK[0]), patient(4)],
        "Observation": [observation(4, SYSTOLIC, "2026-11-20", 118, "mmHg")],
    }
    write_gp_fhir(root, ODS_FHIR, "2026-12-01", newer)
    summary = ingest(store, [root], progress=False)
    assert [e.status for e in summary.extracts] == ["skipped", "loaded"]
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT patient_id FROM patients ORDER BY 1").fetchall() == [(1,), (4,)]
    assert con.execute("SELECT patient_id, value FROM events").fetchall() == [(4, 118.0)]
    assert con.execute("SELECT count(*) FROM registrations").fetchone()[0] == 0  # the newer extract has none
    statuses = dict(
        con.execute("SELECT extract_date::VARCHAR, any_value(status) FROM load_manifest GROUP BY 1").fetchall()
    )
    assert statuses == {EXTRACT: "superseded", "2026-12-01": "committed"}
    # Quarantine of the superseded load is gone: it is no longer actionable.
    loads = {r[0] for r in con.execute("SELECT DISTINCT load_id FROM quarantine").fetchall()}
    committed = {r[0] for r in con.execute("SELECT load_id FROM load_manifest WHERE status = 'committed'").fetchall()}
    assert loads <= committed
    con.close()


def test_older_extract_arriving_late_is_ignored(tmp_path: Path):
    root_new, root_old = tmp_path / "new", tmp_path / "old"
    write_gp_fhir(root_new, ODS_FHIR, "2026-12-01", {"Patient": [patient(4)]})
    write_gp_fhir(root_old, ODS_FHIR, EXTRACT, fhir_resources())
    store = tmp_path / "s.duckdb"
    ingest(store, [root_new], progress=False)
    before = snapshot(store)
    late = ingest(store, [root_old], progress=False)
    assert late.extracts[0].status == "skipped" and "older than" in late.extracts[0].note
    assert snapshot(store) == before


def test_corrected_resend_of_same_date_replaces(tmp_path: Path):
    root = tmp_path / "src"
    write_gp_fhir(root, ODS_FHIR, EXTRACT, {"Patient": [patient(1), patient(2, "9434765918")]})
    store = tmp_path / "s.duckdb"
    ingest(store, [root], progress=False)
    write_gp_fhir(root, ODS_FHIR, EXTRACT, {"Patient": [patient(1), patient(2, NHS_OK[1])]})
    summary = ingest(store, [root], progress=False)
    assert summary.extracts[0].status == "loaded"
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT count(*) FROM patients").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    con.close()
