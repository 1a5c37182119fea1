"""Fuzzing ingest: malformed CSV and NDJSON, wrong types, huge fields, invalid codes and NHS numbers, unicode,
truncated files and broken manifests.

Every case must end in loaded rows, quarantined rows with a reason, or an extract reported as failed; never an
exception out of `ingest()` (its contract: data problems never raise) and never a partial write. The checks:
- for a loaded extract, every file's received = loaded + quarantined, and the store holds exactly `loaded` rows
  and `quarantined` quarantine rows under its load id;
- for a failed extract, no row of that practice is in any table (nothing half-written);
- every loaded patient has a valid (Modulus 11) or NULL NHS number and a date of birth.
The number of cases tried is printed (pytest -s) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecommons.core.nhs_number import is_valid
from carecommons.core.schema import ALL_TABLES
from carecommons.ingest import ingest
from carecommons.store.analytics import connect

pytestmark = pytest.mark.slow

ODS = "E83003"
DATE = "2026-10-31"
NHS_OK = ["9434765919", "9434765870", "4010232137"]  # NHS Digital's example and two hand-checked numbers
CASES = {"csv": 0, "ndjson": 0}
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

ugly_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "NULL", "null", "-1", "1e309", "NaN", "0x1F", "'; DROP TABLE patients; --", '"', "\\"]),
    st.sampled_from(["\u202e\u0000evil", "名前", "Zoë\u0301", "\ufeff", "\r\n", "😀" * 3]),
    st.integers(-(2**70), 2**70).map(str),
    st.just("x" * 200_000),  # a huge field
)
dates = st.one_of(st.dates().map(str), st.sampled_from(["2026-02-30", "31/12/2020", "2026-13-01", ""]), ugly_text)
nhs = st.one_of(st.sampled_from(NHS_OK), st.sampled_from(["9434765918", "0000000000", "943 476 5919"]), ugly_text)
pids = st.one_of(st.integers(1, 50).map(str), ugly_text)


def _row(draw, kind: str) -> dict:
    if kind == "patients":
        return {
            "patient_id": draw(pids),
            "nhs_number": draw(nhs),
            "given_name": draw(ugly_text),
            "family_name": draw(ugly_text),
            "date_of_birth": draw(dates),
            "sex": draw(st.one_of(st.sampled_from(["F", "M", "U"]), ugly_text)),
            "postcode": draw(ugly_text),
            "lsoa": draw(ugly_text),
            "ethnicity_code": draw(st.one_of(st.just("494131000000105"), ugly_text)),
            "date_of_death": draw(st.one_of(st.just(""), dates)),
        }
    if kind == "registrations":
        return {
            "patient_id": draw(pids),
            "practice_id": draw(st.one_of(st.just(ODS), ugly_text)),
            "start_date": draw(dates),
            "end_date": draw(st.one_of(st.just(""), dates)),
        }
    return {
        "patient_id": draw(pids),
        "code": draw(st.one_of(st.sampled_from(["271649006", "271649007", "38341003"]), ugly_text)),
        "date": draw(dates),
        "value": draw(st.one_of(st.floats(allow_nan=True).map(str), ugly_text)),
        "unit": draw(st.one_of(st.just("mmHg"), ugly_text)),
    }


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


@st.composite
def mutated(draw, text: str) -> bytes:
    """The file as written, then maybe truncated, spliced with bytes (invalid UTF-8, NUL, stray quotes)."""
    data = text.encode("utf-8")
    op = draw(st.sampled_from(["none", "truncate", "splice", "drop_header"]))
    if op == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif op == "splice":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff\xfe", b"\x00", b'"', b",,,,", b"\n\n", b"\r"])) + data[at:]
    elif op == "drop_header":
        data = data.split(b"\n", 1)[-1]
    return data


def _manifest(extract: Path, system: str, broken: str) -> None:
    files = {}
    for p in sorted(extract.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            lines = [x for x in p.read_bytes().split(b"\n") if x.strip()]
            rows = len(lines) - (1 if p.suffix == ".csv" else 0)
            files[p.relative_to(extract).as_posix()] = {
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                "rows": rows,
            }
    meta = {"feed": "gp", "practice_id": ODS, "extract_date": DATE, "system": system, "files": files}
    text = json.dumps(meta)
    if broken == "truncated":
        text = text[: len(text) // 2]
    elif broken == "wrong_sha":
        first = next(iter(files), None)
        if first:
            meta["files"][first]["sha256"] = "0" * 64
        text = json.dumps(meta)
    elif broken == "wrong_types":
        meta["extract_date"] = 20261031
        meta["files"] = ["not", "a", "dict"]
        text = json.dumps(meta)
    (extract / "manifest.json").write_text(text)


def _check_store(store: Path, summary) -> None:
    data_tables = [t.name for t in ALL_TABLES if t.name not in ("quarantine", "load_manifest")]
    con = connect(store, read_only=True) if store.exists() else None
    try:
        for result in summary.extracts:
            for f in result.files:
                assert f.received == f.loaded + f.quarantined, (result.path, f.name)
            if con is None:
                continue
            if result.status == "loaded" and result.load_id:
                stored = 0
                for t in data_tables:
                    cols = {r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()}
                    if "load_id" in cols:
                        stored += con.execute(
                            f"SELECT count(*) FROM {t} WHERE load_id = ?", [result.load_id]
                        ).fetchone()[0]
                q = con.execute("SELECT count(*) FROM quarantine WHERE load_id = ?", [result.load_id]).fetchone()[0]
                assert (stored, q) == (result.loaded, result.quarantined), result.path
            elif result.status == "failed" and result.org == ODS:
                for t in ("patients", "registrations", "events"):
                    n = con.execute(f"SELECT count(*) FROM {t} WHERE practice_id = ?", [ODS]).fetchone()[0]
                    assert n == 0, f"failed extract left {n} rows in {t}"
        if con is not None:
            for nhs_number, dob in con.execute("SELECT nhs_number, date_of_birth FROM patients").fetchall():
                assert nhs_number is None or is_valid(nhs_number)
                assert dob is not None
    finally:
        if con is not None:
            con.close()


@st.composite
def csv_extract(draw) -> dict:
    files = {}
    for kind in ("patients", "registrations", "events"):
        rows = [_row(draw, kind) for _ in range(draw(st.integers(1, 4)))]
        files[f"{kind}.csv"] = draw(mutated(_csv_text(rows)))
    return {
        "files": files,
        "broken": draw(st.sampled_from(["none", "none", "none", "truncated", "wrong_sha", "wrong_types"])),
    }


@given(case=csv_extract())
@FUZZ
def test_csv_extracts_fail_safe(tmp_path_factory, case):
    CASES["csv"] += 1
    root = tmp_path_factory.mktemp("csvfuzz")
    extract = root / "src" / "gp" / ODS / DATE
    (extract / "csv").mkdir(parents=True)
    for name, data in case["files"].items():
        (extract / "csv" / name).write_bytes(data)
    _manifest(extract, "csv", case["broken"])
    summary = ingest(root / "store.duckdb", [root / "src"], progress=False)
    _check_store(root / "store.duckdb", summary)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ugly_text),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@st.composite
def fhir_patient(draw) -> dict:
    r = {
        "resourceType": draw(st.sampled_from(["Patient", "Patient", "Observation", "patient"])),
        "id": draw(st.one_of(st.integers(1, 50).map(str), json_values)),
        "gender": draw(st.one_of(st.sampled_from(["female", "male", "unknown"]), json_values)),
        "birthDate": draw(st.one_of(dates, json_values)),
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": draw(st.one_of(nhs, json_values))}],
        "name": draw(st.one_of(st.just([{"given": ["Ann"], "family": "Smith"}]), json_values)),
    }
    for key in draw(st.lists(st.sampled_from(list(r)), max_size=2)):
        r.pop(key, None)
    return r


@st.composite
def ndjson_extract(draw) -> dict:
    patients = [json.dumps(draw(fhir_patient())) for _ in range(draw(st.integers(1, 4)))]
    obs = [
        json.dumps(
            {
                "resourceType": "Observation",
                "subject": draw(st.one_of(st.just({"reference": "Patient/1"}), json_values)),
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": draw(st.one_of(st.just("271649006"), ugly_text))}
                    ]
                },
                "effectiveDateTime": draw(dates),
                "valueQuantity": {"value": draw(st.one_of(st.floats(), json_values)), "unit": "mmHg"},
            }
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    extra = draw(st.lists(st.sampled_from(["{", "[]", "null", '{"resourceType": 5}', "\x00", "{}" * 3]), max_size=2))
    return {
        "files": {
            "Patient.ndjson": draw(mutated("\n".join(patients + extra) + "\n")),
            "Observation.ndjson": draw(mutated("\n".join(obs) + "\n")),
        },
        "broken": draw(st.sampled_from(["none", "none", "none", "truncated", "wrong_sha"])),
    }


@given(case=ndjson_extract())
@FUZZ
def test_fhir_ndjson_extracts_fail_safe(tmp_path_factory, case):
    CASES["ndjson"] += 1
    root = tmp_path_factory.mktemp("fhirfuzz")
    extract = root / "src" / "gp" / ODS / DATE
    (extract / "fhir").mkdir(parents=True)
    for name, data in case["files"].items():
        (extract / "fhir" / name).write_bytes(data)
    _manifest(extract, "fhir", case["broken"])
    summary = ingest(root / "store.duckdb", [root / "src"], progress=False)
    _check_store(root / "store.duckdb", summary)


def test_report_cases_tried():
    """Runs after the two fuzz tests in file order: prints how many extracts were tried (0 if deselected)."""
    print(f"\ningest fuzz cases tried: {CASES}")
    assert all(n == 0 or n >= FUZZ.max_examples for n in CASES.values()), CASES
