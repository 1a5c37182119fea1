"""Data-quality report figures on hand-made data, and the ingest / quarantine / dq commands."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from ingest_builders import ETH_WHITE_BRITISH, NHS_OK, SYSTOLIC, condition, observation, patient, write_gp_fhir
from typer.testing import CliRunner

from carecommons.cli.main import app
from carecommons.ingest import ingest
from carecommons.ingest.quality import practice_quality

runner = CliRunner()


def _practice(root: Path) -> None:
    # 4 patients on 2026-11-01: two aged 45+ (born 1950, 1980-11-01 = exactly 46), two younger.
    # Ethnicity on 1 of 4; NHS number on 2 of 4. BP in the last 5 years for one of the 45+.
    write_gp_fhir(
        root,
        "E83003",
        "2026-11-01",
        {
            "Patient": [
                patient(1, NHS_OK[0], dob="1950-01-01", ethnicity=ETH_WHITE_BRITISH),
                patient(2, NHS_OK[1], dob="1980-11-01"),
                patient(3, dob="1990-06-01"),
                patient(4, dob="2000-01-01"),
            ],
            "Observation": [
                observation(1, SYSTOLIC, "2024-05-01", 130, "mmHg"),  # recent
                observation(2, SYSTOLIC, "2020-01-01", 130, "mmHg"),  # more than 5 years before
                observation(3, SYSTOLIC, "2026-06-01", 120, "mmHg"),  # under 45: not counted
            ],
            "Condition": [condition(4, "38341003", "2018-01-01")],
        },
        raw_lines={"Condition": ["nonsense"]},
    )


def test_practice_quality_figures(tmp_path: Path):
    _practice(tmp_path / "src")
    store = tmp_path / "s.duckdb"
    ingest(store, [tmp_path / "src"], progress=False)
    con = duckdb.connect(str(store), read_only=True)
    [row] = practice_quality(con)
    assert practice_quality(con, "E99999") == []
    con.close()
    assert row["practice_id"] == "E83003" and row["patients"] == 4
    assert row["ethnicity_recorded_pct"] == 25.0
    assert row["nhs_number_pct"] == 50.0
    assert row["patients_45_plus"] == 2
    assert row["bp_recorded_5y_pct"] == 50.0
    assert row["events"] == 4
    assert row["events_last_12m_pct"] == 25.0  # only 2026-06-01 is within 12 months
    assert row["days_since_last_event"] == 153  # 2026-06-01 -> 2026-11-01
    assert (row["received"], row["quarantined"]) == (9, 1)


def test_cli_ingest_quarantine_dq(tmp_path: Path):
    _practice(tmp_path / "src")
    store = str(tmp_path / "s.duckdb")
    res = runner.invoke(app, ["ingest", "--store", store, "--no-progress", "--workers", "2", str(tmp_path / "src")])
    assert res.exit_code == 0, res.output
    assert "received 9 = loaded 8 + quarantined 1" in " ".join(res.output.split())
    res = runner.invoke(app, ["quarantine", "--store", store, "--practice", "E83003"])
    assert res.exit_code == 0 and "not valid JSON" in res.output
    assert "nonsense" not in res.output  # raw values only with --show-raw
    res = runner.invoke(app, ["quarantine", "--store", store, "--show-raw"])
    assert "nonsense" in res.output
    res = runner.invoke(app, ["dq", "--store", store, "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["patients"] == 4
    res = runner.invoke(app, ["dq", "--store", store, "--format", "csv"])
    assert res.output.splitlines()[0].startswith("practice_id,extract_date,patients")


def test_cli_exit_codes(tmp_path: Path):
    _practice(tmp_path / "src")
    store = str(tmp_path / "s.duckdb")
    res = runner.invoke(app, ["ingest", "--store", store, "--no-progress", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["ingest", "--store", store, "--workers", "0", str(tmp_path / "src")])
    assert res.exit_code == 2 and "--workers" in res.output
    bad = tmp_path / "src" / "gp" / "E83003" / "2026-11-01" / "fhir" / "Patient.ndjson"
    bad.write_text(bad.read_text() + "\n")  # changes the checksum the manifest declares
    res = runner.invoke(app, ["ingest", "--store", store, "--no-progress", str(tmp_path / "src")])
    assert res.exit_code == 1
