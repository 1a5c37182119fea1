"""Building blocks: unit normalisation, date parsing, patient keys, extract discovery errors."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.ingest import units
from carecommons.ingest.discovery import discover
from carecommons.ingest.sql import full_date, patient_key


def test_unit_spellings_map_to_ucum_and_scale():
    con = duckdb.connect()
    units.install(con)
    rows = dict((r[0], (r[1], r[2])) for r in con.execute("SELECT raw, canonical, factor FROM _unit_map").fetchall())
    assert rows["mmHg"] == ("mm[Hg]", 1.0)
    assert rows["mmol/l"] == ("mmol/L", 1.0)
    assert rows["kg/m^2"] == ("kg/m2", 1.0)
    assert rows["g/dL"] == ("g/L", 10.0)  # 1 g/dL = 10 g/L
    assert rows["m"] == ("cm", 100.0)
    assert "furlongs" not in rows
    assert {"mm[Hg]", "mmol/mol", "mmol/L", "kg/m2", "%"} <= units.canonical_units()
    hba1c = {r[0] for r in con.execute("SELECT code FROM _hba1c_codes").fetchall()}
    assert "1003671000000109" in hba1c


def test_dcct_to_ifcc_known_points():
    # Reference pairs from the IFCC/DCCT master equation: 6.5 % = 48 mmol/mol, 7.5 % = 58 mmol/mol.
    assert round(units.dcct_to_ifcc(6.5)) == 48
    assert round(units.dcct_to_ifcc(7.5)) == 58


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", "2024-03-05"),
        ("2024-03-05T10:00:00+01:00", "2024-03-05"),
        ("2024-3-5", None),
        ("2024-02-30", None),
        ("2024-03", None),
        ("05/03/2024", None),
        (None, None),
    ],
)
def test_full_date(text, expected):
    got = duckdb.connect().execute(
        f"SELECT CAST({full_date('x')} AS VARCHAR) FROM (SELECT CAST(? AS VARCHAR) AS x)", [text]
    )
    assert got.fetchone()[0] == expected


def test_patient_keys():
    con = duckdb.connect()

    def key(ref, org="E83003"):
        return con.execute(f"SELECT {patient_key('r', org)} FROM (SELECT CAST(? AS VARCHAR) AS r)", [ref]).fetchone()[0]

    assert key("Patient/1234567") == 1234567 == key("1234567")
    uuid = key("urn:uuid:abc")
    assert uuid == key("abc") and 0 <= uuid < 2**63
    assert key("abc", "E83005") != uuid  # scoped to the sender
    assert key("") is None and key(None) is None


def _extract(root: Path, files: dict[str, str], manifest: dict | None = None) -> Path:
    d = root / "gp" / "E83003" / "2026-11-01"
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    d.mkdir(parents=True, exist_ok=True)
    meta = manifest if manifest is not None else {"feed": "gp", "practice_id": "E83003", "extract_date": "2026-11-01"}
    (d / "manifest.json").write_text(json.dumps(meta))
    return d


def test_discovery_refuses_broken_extracts_but_not_others(tmp_path: Path):
    _extract(tmp_path / "a", {}, {"feed": "gp", "files": {"fhir/Patient.ndjson": {"sha256": "0"}}})
    found = discover([tmp_path / "a"])
    assert found.extracts == [] and "missing" in str(found.refused[0][1])
    d = _extract(tmp_path / "b", {"fhir/Patient.ndjson": "{}\n"})
    (d / "manifest.json").write_text("{not json")
    assert "not readable JSON" in str(discover([tmp_path / "b"]).refused[0][1])
    ok = _extract(tmp_path / "c", {"fhir/Patient.ndjson": "{}\n"})
    found = discover([tmp_path / "c"])
    assert [e.directory for e in found.extracts] == [ok] and found.extracts[0].system == "fhir"


def test_discovery_errors_name_the_input(tmp_path: Path):
    with pytest.raises(InvalidInput, match="does not exist"):
        discover([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no extract"):
        discover([tmp_path / "empty"])
    loose = tmp_path / "Patient.ndjson"
    loose.write_text("{}\n")
    with pytest.raises(InvalidInput, match="manifest.json"):
        discover([loose])


def test_load_id_depends_on_content(tmp_path: Path):
    d = _extract(tmp_path / "x", {"fhir/Patient.ndjson": "{}\n"})
    first = discover([tmp_path / "x"]).extracts[0].load_id
    assert discover([tmp_path / "x"]).extracts[0].load_id == first
    (d / "fhir" / "Patient.ndjson").write_text("{} \n")
    assert discover([tmp_path / "x"]).extracts[0].load_id != first


def test_ndjson_fast_and_slow_paths_agree(tmp_path: Path):
    """read_json (fast) and line-by-line json_transform (slow, used when a line is broken) give the same rows."""
    from ingest_builders import SYSTOLIC, observation

    from carecommons.ingest import fhir, validate_gp

    src = tmp_path / "Observation.ndjson"
    src.write_text("\n".join(json.dumps(observation(i, SYSTOLIC, "2025-01-01", i, "mmHg")) for i in range(2000)) + "\n")
    con = duckdb.connect()
    validate_gp.create_candidates(con)
    assert fhir.load_ndjson(con, src, "fast", "Observation", physical_lines=2000) == 2000
    assert fhir.load_ndjson(con, src, "slow", "Observation", physical_lines=None) == 2000
    cols = "_line, _rtype, _pre_reason, pid_ref, code, date_t, value_t, unit_t"
    fast = con.execute(f"SELECT {cols} FROM _c_events WHERE _file = 'fast' ORDER BY _line").fetchall()
    slow = con.execute(f"SELECT {cols} FROM _c_events WHERE _file = 'slow' ORDER BY _line").fetchall()
    assert fast == slow and len(fast) == 2000
    assert [r[0] for r in fast] == list(range(1, 2001))
    assert fast[1][3] == "Patient/1" and fast[1][6] == "1"  # line 2 holds observation 1: order preserved
    # A wrong physical line count (a blank line read_json skipped) withdraws the fast rows.
    assert fhir.load_ndjson(con, src, "miscount", "Observation", physical_lines=2001) == 2000
    assert con.execute("SELECT count(*) FROM _c_events WHERE _file = 'miscount'").fetchone()[0] == 2000
