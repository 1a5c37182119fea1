"""Social-care and hospital feeds, and the practices reference file."""

from __future__ import annotations

from pathlib import Path

import duckdb
from ingest_builders import (
    BAD_SNOMED,
    HYPERTENSION,
    NHS_BAD,
    NHS_OK,
    discharge,
    write_hospital,
    write_practices,
    write_social_care,
)

from carecommons.ingest import ingest


def test_hospital_bundle_entries_all_accounted(tmp_path: Path):
    root = tmp_path / "src"
    entries = (
        discharge(1, NHS_OK[0], "1960-05-01", "2026-01-01", "2026-01-05", HYPERTENSION, "RAL")
        + discharge(2, NHS_BAD, "1960-05-01", "2026-01-01", "2026-01-05", HYPERTENSION, "RAL")
        + discharge(3, None, "1950-01-01", "2026-02-01", "2026-01-05", HYPERTENSION, "RAL")  # leaves before arrival
        + discharge(4, None, "1950-01-01", "2026-02-01", "2026-02-03", BAD_SNOMED, "RAL")
    )
    write_hospital(root, "RAL", "2026-10-15", [entries])
    store = tmp_path / "s.duckdb"
    summary = ingest(store, [root], progress=False)
    f = summary.extracts[0].files[0]
    assert (f.received, f.loaded, f.quarantined) == (12, 5, 7)
    con = duckdb.connect(str(store), read_only=True)
    rows = con.execute(
        "SELECT record_id, nhs_number, trust_code, admission_date::VARCHAR, diagnosis_code, discharge_destination "
        "FROM hospital_records ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("T00001", NHS_OK[0], "RAL", "2026-01-01", HYPERTENSION, "Usual place of residence"),
        ("T00004", None, "RAL", "2026-02-01", None, "Usual place of residence"),
    ]
    q = dict(con.execute("SELECT line, field FROM quarantine ORDER BY line").fetchall())
    # Entries 4-6: discharge 2 (bad NHS number cascades); 7-9: discharge 3 (dates); 12: bad diagnosis code.
    assert set(q) == {4, 5, 6, 7, 8, 9, 12}
    assert q[4] == "identifier(nhs-number)" and q[8] == "period.end" and q[12] == "code"
    con.close()


def test_social_care_clients(tmp_path: Path):
    root = tmp_path / "src"
    rows = [
        {
            "record_id": "S1",
            "nhs_number": NHS_OK[2],
            "date_of_birth": "1940-01-01",
            "sex": "F",
            "start_date": "2025-01-01",
        },
        {"record_id": "S2", "nhs_number": NHS_BAD, "start_date": "2025-01-01"},
        {"record_id": "S3", "start_date": "2025-03-01", "end_date": "2025-02-01"},
        {"record_id": "S1", "start_date": "2025-01-01"},
        {"record_id": "S5", "service_type": "home care", "start_date": "2026-12-25"},
    ]
    write_social_care(root, "E09000003", "2026-10-01", rows)
    store = tmp_path / "s.duckdb"
    summary = ingest(store, [root], progress=False)
    assert summary.ok
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT record_id, local_authority FROM social_care_records").fetchall() == [("S1", "E09000003")]
    q = dict(con.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall())
    assert set(q) == {3, 4, 5, 6}
    assert "Modulus 11" in q[3] and "ends before it starts" in q[4] and "line 2" in q[5] and "future" in q[6]
    con.close()


def test_practices_reference(tmp_path: Path):
    root = tmp_path / "src"
    write_practices(
        root,
        [
            {
                "practice_id": "E83003",
                "name": "Oakleigh",
                "pcn_id": "PCN-BARNET-01",
                "borough": "Barnet",
                "icb": "NCL",
                "list_size": "5983",
            },
            {"practice_id": "E83005", "pcn_id": "PCN-BARNET-01", "borough": "Barnet", "icb": "Barnet"},
            {"practice_id": "E83006", "pcn_id": "", "borough": "Barnet", "icb": "NCL"},
        ],
    )
    store = tmp_path / "s.duckdb"
    summary = ingest(store, [root], progress=False)
    f = summary.extracts[0].files[0]
    assert (f.received, f.loaded, f.quarantined) == (3, 1, 2)
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT practice_id, list_size FROM practices").fetchall() == [("E83003", 5983)]
    assert dict(con.execute("SELECT line, field FROM quarantine").fetchall()) == {3: "icb", 4: "pcn_id"}
    con.close()
    assert ingest(store, [root], progress=False).extracts[0].status == "skipped"
