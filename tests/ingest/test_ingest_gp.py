"""GP extracts (FHIR NDJSON and CSV) end to end through ingest(): what loads, what is quarantined and why."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from ingest_builders import HBA1C_DCCT, NHS_OK, SYSTOLIC
from ingest_sample import EXTRACT, ODS_CSV, ODS_FHIR

from carecommons.ingest import ingest


@pytest.fixture
def loaded(sources: Path, tmp_path: Path):
    store = tmp_path / "store.duckdb"
    summary = ingest(store, [sources], progress=False)
    con = duckdb.connect(str(store), read_only=True)
    yield summary, con
    con.close()


def _q(con, file_suffix: str) -> dict[int, tuple[str, str]]:
    rows = con.execute(
        "SELECT line, field, reason FROM quarantine WHERE source_file LIKE '%' || ? ORDER BY line", [file_suffix]
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_summary_accounts_for_every_row(loaded):
    summary, con = loaded
    assert summary.ok
    assert [e.status for e in summary.extracts] == ["loaded", "loaded"]
    for ex in summary.extracts:
        for f in ex.files:
            assert f.received == f.loaded + f.quarantined
    manifest = con.execute("SELECT received, loaded, quarantined FROM load_manifest").fetchall()
    assert all(rec == ld + qu for rec, ld, qu in manifest)
    # Quarantine table agrees with the manifest, file by file.
    mismatch = con.execute("""
        SELECT m.source_file FROM load_manifest m
        LEFT JOIN (SELECT source_file, count(*) n FROM quarantine GROUP BY 1) q USING (source_file)
        WHERE m.quarantined <> coalesce(q.n, 0)
    """).fetchall()
    assert mismatch == []


def test_observation_faults_get_actionable_reasons(loaded):
    _, con = loaded
    q = _q(con, "Observation.ndjson")
    assert set(q) == {3, 4, 5, 6, 7, 8, 9, 10}  # lines 1-2 load, 11 is blank and not a row
    assert "duplicate" in q[3][1] and "line 1" in q[3][1]
    assert "quarantined" in q[4][1] and "Patient.ndjson line 2" in q[4][1]
    assert "before the patient's date of birth" in q[5][1]
    assert q[6][0] == "code" and "Verhoeff" in q[6][1]
    assert "in the future" in q[7][1]
    assert q[8][0] == "valueQuantity.unit" and "UCUM" in q[8][1]
    assert "no patient record" in q[9][1]
    assert "not valid JSON" in q[10][1]


def test_quarantine_reasons_hold_no_patient_values(loaded):
    _, con = loaded
    reasons = " ".join(r[0] for r in con.execute("SELECT reason FROM quarantine").fetchall())
    for value in ["9434765918", "Smith", "1990-01-01", "1980-01-01", SYSTOLIC]:
        assert value not in reasons


def test_raw_line_kept_for_correction(loaded):
    _, con = loaded
    raw = con.execute(
        "SELECT raw FROM quarantine WHERE source_file LIKE '%Observation.ndjson' AND line = 10"
    ).fetchone()[0]
    assert raw == "{not json"


def test_patients_enriched_and_invalid_nhs_quarantined(loaded):
    _, con = loaded
    rows = con.execute(
        "SELECT patient_id, nhs_number, sex, imd_decile, ethnicity_16, ethnicity_6 FROM patients "
        "WHERE practice_id = ? ORDER BY patient_id",
        [ODS_FHIR],
    ).fetchall()
    assert [r[0] for r in rows] == [1, 3]
    # E01000001 (City of London) is IMD decile 9 in the shipped lookup; 494131000000105 is White British.
    lsoa_decile = con.execute(
        "SELECT IMD_OVERALL FROM read_csv('src/carecommons/reference/data/reference/lsoa_geog_lookup.csv', "
        "all_varchar = true) WHERE LSOA_CODE = 'E01000001'"
    ).fetchone()[0]
    assert rows[0][1:] == (NHS_OK[0], "F", int(lsoa_decile), "White - British", "White")
    assert rows[1][2] == "M"
    q = _q(con, "Patient.ndjson")
    assert list(q) == [2] and q[2][0] == "identifier(nhs-number)"


def test_units_normalised_and_hba1c_converted(loaded):
    _, con = loaded
    bp = con.execute(
        "SELECT value, unit FROM events WHERE code = ? AND practice_id = ?", [SYSTOLIC, ODS_FHIR]
    ).fetchall()
    assert bp == [(140.0, "mm[Hg]")]
    hba1c = con.execute("SELECT value, unit FROM events WHERE code = ?", [HBA1C_DCCT]).fetchone()
    # IFCC = (DCCT - 2.15) * 10.929: 7.0 % is 53.0 mmol/mol.
    assert hba1c[1] == "mmol/mol"
    assert hba1c[0] == pytest.approx(53.0, abs=0.05)


def test_csv_practice(loaded):
    _, con = loaded
    assert con.execute("SELECT patient_id FROM patients WHERE practice_id = ?", [ODS_CSV]).fetchall() == [(10,)]
    q = _q(con, "csv/patients.csv")
    assert set(q) == {3, 4}  # header is line 1
    assert q[3][0] == "date_of_birth" and "YYYY-MM-DD" in q[3][1]
    assert q[4][0] == "sex"
    ev = _q(con, "csv/events.csv")
    assert set(ev) == {3, 4}
    assert ev[3][0] == "value" and "not a number" in ev[3][1]
    assert ev[4][0] == "code" and "missing" in ev[4][1]
    assert _q(con, "csv/medications.csv") == {3: ("dmd_code", _q(con, "csv/medications.csv")[3][1])}
    assert "not a well-formed dm+d id" in _q(con, "csv/medications.csv")[3][1]
    for table in ("medications", "vaccinations", "encounters", "registrations"):
        n = con.execute(f"SELECT count(*) FROM {table} WHERE practice_id = ?", [ODS_CSV]).fetchone()[0]
        assert n == 1, table


def test_manifest_records_checksums_and_dates(loaded, sources: Path):
    import hashlib

    _, con = loaded
    path = sources / "gp" / ODS_FHIR / EXTRACT / "fhir" / "Patient.ndjson"
    sha, date, status = con.execute(
        "SELECT sha256, extract_date, status FROM load_manifest WHERE source_file LIKE '%fhir/Patient.ndjson'"
    ).fetchone()
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert date.isoformat() == EXTRACT and status == "committed"


def test_checksum_mismatch_refuses_extract(sources: Path, tmp_path: Path):
    f = sources / "gp" / ODS_FHIR / EXTRACT / "fhir" / "Patient.ndjson"
    f.write_text(f.read_text().replace("Smith", "Smyth"))
    summary = ingest(tmp_path / "s.duckdb", [sources], progress=False)
    assert not summary.ok
    failed = summary.by_status("failed")
    assert len(failed) == 1 and "checksum" in str(failed[0].error)
    assert len(summary.by_status("loaded")) == 1  # the CSV practice still loads


def test_gp_transaction_bundle_with_uuid_references(tmp_path: Path):
    """A GP system sending FHIR as a transaction Bundle: urn:uuid references resolve to the Patient entry."""
    import json

    from ingest_builders import SCT, write_manifest

    extract = tmp_path / "src" / "gp" / "E83003" / "2026-11-01"
    (extract / "fhir").mkdir(parents=True)
    pid = "urn:uuid:6f1c0d2e-0000-4000-8000-000000000001"
    entries = [
        {"fullUrl": pid, "resource": {"resourceType": "Patient", "gender": "male", "birthDate": "1970-01-01"}},
        {
            "fullUrl": "urn:uuid:obs-1",
            "resource": {
                "resourceType": "Observation",
                "subject": {"reference": pid},
                "code": {"coding": [{"system": SCT, "code": SYSTOLIC}]},
                "effectiveDateTime": "2025-03-01T09:30:00Z",
                "valueQuantity": {"value": 128, "unit": "mm Hg"},
            },
        },
        {"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Practitioner"}},
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    (extract / "fhir" / "bundle.json").write_text(json.dumps(bundle))
    write_manifest(extract, "gp", "E83003", "2026-11-01", "fhir")
    store = tmp_path / "s.duckdb"
    summary = ingest(store, [tmp_path / "src"], progress=False)
    f = summary.extracts[0].files[0]
    assert (f.received, f.loaded, f.quarantined) == (3, 2, 1)
    con = duckdb.connect(str(store), read_only=True)
    [(patient_id,)] = con.execute("SELECT patient_id FROM patients").fetchall()
    assert patient_id > 0
    assert con.execute("SELECT patient_id, date::VARCHAR, value, unit FROM events").fetchall() == [
        (patient_id, "2025-03-01", 128.0, "mm[Hg]")
    ]
    assert con.execute("SELECT line, field FROM quarantine").fetchall() == [(3, "resourceType")]
    con.close()
