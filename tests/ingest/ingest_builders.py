"""Hand-made source extracts for ingest tests, written to docs/source-formats.md.

Each builder writes files and a manifest.json with real checksums, so the tests exercise the same
path as a real feed. Values are chosen by hand; expected outcomes in tests are stated independently.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb

from carecommons.core.schema import ALL_TABLES

NHS = "https://fhir.nhs.uk/Id/nhs-number"
SCT = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
ETH = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
LSOA = "https://carecommons.example/fhir/lsoa"

# Valid NHS numbers (Modulus 11 checked by hand: 943 476 5919 is the NHS Digital example).
NHS_OK = ["9434765919", "9434765870", "4010232137"]
NHS_BAD = "9434765918"  # last digit changed
SYSTOLIC = "271649006"  # Systolic blood pressure (SNOMED CT)
HBA1C_IFCC = "999791000000106"
HBA1C_DCCT = "1003671000000109"
HYPERTENSION = "38341003"
BAD_SNOMED = "271649007"  # systolic id with its Verhoeff check digit broken
ETH_WHITE_BRITISH = "494131000000105"
ATORVASTATIN_DMD = "320000009"  # a dm+d VMP-style id (Verhoeff-valid)


def patient(pid: int, nhs: str | None = None, dob: str = "1960-05-01", gender: str = "female", **kw) -> dict:
    r: dict = {"resourceType": "Patient", "id": str(pid), "gender": gender, "birthDate": dob}
    if nhs:
        r["identifier"] = [{"system": NHS, "value": nhs}]
    r["name"] = [{"given": [kw.get("given", "Ann")], "family": kw.get("family", "Smith")}]
    r["address"] = [{"postalCode": kw.get("postcode", "N20 0DH")}]
    ext = []
    if kw.get("ethnicity"):
        ext.append({"url": ETH, "valueCodeableConcept": {"coding": [{"system": SCT, "code": kw["ethnicity"]}]}})
    if kw.get("lsoa"):
        ext.append({"url": LSOA, "valueString": kw["lsoa"]})
    if ext:
        r["extension"] = ext
    if kw.get("deceased"):
        r["deceasedDateTime"] = kw["deceased"]
    return r


def observation(pid: int, code: str, date: str, value: float | str | None = None, unit: str | None = None) -> dict:
    r: dict = {
        "resourceType": "Observation",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": SCT, "code": code}]},
        "effectiveDateTime": date,
    }
    if value is not None:
        r["valueQuantity"] = {"value": value, "unit": unit}
    return r


def condition(pid: int, code: str, date: str) -> dict:
    return {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": SCT, "code": code}]},
        "onsetDateTime": date,
    }


def registration(pid: int, ods: str, start: str, end: str | None = None) -> dict:
    period = {"start": start}
    if end:
        period["end"] = end
    return {
        "resourceType": "EpisodeOfCare",
        "patient": {"reference": f"Patient/{pid}"},
        "managingOrganization": {
            "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods}
        },
        "period": period,
    }


def medication(pid: int, code: str, date: str) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {"coding": [{"system": DMD, "code": code}]},
        "authoredOn": date,
    }


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(extract: Path, feed: str, org: str, date: str, system: str | None = None) -> None:
    files = {}
    for p in sorted(extract.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            if p.suffix == ".json":
                rows = len(json.loads(p.read_text()).get("entry", []))
            else:
                rows = sum(1 for line in p.read_text().splitlines() if line.strip())
                rows -= 1 if p.suffix == ".csv" else 0
            files[p.relative_to(extract).as_posix()] = {"sha256": _sha(p), "rows": rows}
    meta = {"feed": feed, "extract_date": date, "files": files}
    if feed == "gp":
        meta["practice_id"] = org
        meta["system"] = system
    (extract / "manifest.json").write_text(json.dumps(meta, indent=1))


def write_gp_fhir(root: Path, ods: str, date: str, resources: dict[str, list], raw_lines: dict | None = None) -> Path:
    """gp/<ods>/<date>/fhir/<Type>.ndjson; raw_lines[Type] = list of extra literal lines appended."""
    extract = root / "gp" / ods / date
    (extract / "fhir").mkdir(parents=True, exist_ok=True)
    for rtype, items in resources.items():
        lines = [json.dumps(r) for r in items] + list((raw_lines or {}).get(rtype, []))
        (extract / "fhir" / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n")
    write_manifest(extract, "gp", ods, date, "fhir")
    return extract


def write_gp_csv(root: Path, ods: str, date: str, tables: dict[str, list[dict]]) -> Path:
    from carecommons.ingest.csvfiles import GP_FILES

    extract = root / "gp" / ods / date
    (extract / "csv").mkdir(parents=True, exist_ok=True)
    for fname, (_, mapping) in GP_FILES.items():
        table = fname.removesuffix(".csv")
        if table not in tables:
            continue
        cols = list(mapping.values())
        with (extract / "csv" / fname).open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for row in tables[table]:
                w.writerow({c: row.get(c, "") for c in cols})
    write_manifest(extract, "gp", ods, date, "csv")
    return extract


def write_practices(root: Path, rows: list[dict]) -> Path:
    from carecommons.core.schema import PRACTICES

    path = root / "reference" / "practices.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PRACTICES.column_names)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in PRACTICES.column_names})
    return path


def write_social_care(root: Path, la: str, date: str, rows: list[dict]) -> Path:
    from carecommons.ingest.feeds import SOCIAL_COLUMNS

    extract = root / "social_care" / la / date
    extract.mkdir(parents=True, exist_ok=True)
    with (extract / "clients.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SOCIAL_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in SOCIAL_COLUMNS})
    write_manifest(extract, "social_care", la, date)
    return extract


def discharge(n: int, nhs: str | None, dob: str, admit: str, discharge_date: str, code: str, trust: str) -> list[dict]:
    """Three Bundle entries: Patient, Encounter, Condition of one discharge."""
    pid = f"T{n:05d}"
    p = {
        "resourceType": "Patient",
        "id": pid,
        "gender": "male",
        "birthDate": dob,
        "name": [{"given": ["Bo"], "family": "Lee"}],
    }
    if nhs:
        p["identifier"] = [{"system": NHS, "value": nhs}]
    e = {
        "resourceType": "Encounter",
        "id": f"E{n:05d}",
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": admit, "end": discharge_date},
        "serviceProvider": {"identifier": {"value": trust}},
        "hospitalization": {"dischargeDisposition": {"coding": [{"display": "Usual place of residence"}]}},
    }
    c = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": SCT, "code": code}]},
    }
    return [{"fullUrl": f"urn:uuid:{pid}", "resource": x} for x in (p, e, c)]


def write_hospital(root: Path, trust: str, date: str, bundles: list[list[dict]]) -> Path:
    extract = root / "hospital" / trust / date
    extract.mkdir(parents=True, exist_ok=True)
    for i, entries in enumerate(bundles, start=1):
        doc = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        (extract / f"discharges-{i:03d}.json").write_text(json.dumps(doc, indent=1))
    write_manifest(extract, "hospital", trust, date)
    return extract


VOLATILE = {"started_at", "finished_at"}


def snapshot(store: Path) -> dict[str, list[tuple]]:
    """Every canonical table's rows, sorted, without load timings (they differ run to run)."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        out = {}
        for t in ALL_TABLES:
            cols = ", ".join(c for c in t.column_names if c not in VOLATILE)
            out[t.name] = sorted(con.execute(f"SELECT {cols} FROM {t.name}").fetchall(), key=repr)
        return out
    finally:
        con.close()
