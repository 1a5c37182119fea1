"""Social-care and hospital feeds against the truth, FHIR validity, manifests."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from carecommons.synth.config import NHS_SYSTEM, ODS_SYSTEM, SCT
from synth.helpers import ndjson, read_csv_extracts


@pytest.fixture(scope="module")
def truth(csv_run) -> pd.DataFrame:
    return pd.read_csv(csv_run.paths["identity"], dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def gp_patients(csv_run) -> pd.DataFrame:
    return read_csv_extracts(csv_run.out_dir)["patients"].set_index("patient_id")


@pytest.fixture(scope="module")
def social(csv_run) -> pd.DataFrame:
    frames = [
        pd.read_csv(p, dtype=str, keep_default_na=False) for p in csv_run.out_dir.glob("social_care/*/*/clients.csv")
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def hospital(csv_run) -> pd.DataFrame:
    rows = []
    for path in sorted(csv_run.out_dir.glob("hospital/*/*/discharges-*.json")):
        bundle = json.loads(path.read_text())
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
        entries = [e["resource"] for e in bundle["entry"]]
        patients = {r["id"]: r for r in entries if r["resourceType"] == "Patient"}
        assert len(patients) == sum(r["resourceType"] == "Patient" for r in entries)  # each Patient once per Bundle
        encounters = [r for r in entries if r["resourceType"] == "Encounter"]
        conditions = {r["encounter"]["reference"]: r for r in entries if r["resourceType"] == "Condition"}
        assert len(conditions) == len(encounters)
        for enc in encounters:
            pat = patients[enc["subject"]["reference"].removeprefix("Patient/")]
            cond = conditions[f"Encounter/{enc['id']}"]
            assert cond["subject"] == enc["subject"]
            assert enc["period"]["start"] <= enc["period"]["end"]
            nhs = [i["value"] for i in pat.get("identifier", []) if i["system"] == NHS_SYSTEM]
            rows.append({"record_id": pat["id"], "nhs_number": nhs[0] if nhs else "", "trust": path.parts[-3],
                         "provider": enc["serviceProvider"]["identifier"]["value"],
                         "diagnosis_system": cond["code"]["coding"][0]["system"]})  # fmt: skip
    return pd.DataFrame(rows)


def test_every_feed_record_has_exactly_one_truth_row(truth, social, hospital):
    t = truth.set_index(["feed", "record_id"])
    assert not t.index.duplicated().any()
    assert set(social["record_id"]) == set(truth.loc[truth["feed"] == "social_care", "record_id"])
    assert set(hospital["record_id"]) == set(truth.loc[truth["feed"] == "hospital", "record_id"])
    assert len(hospital) > len(set(hospital["record_id"]))  # some people are admitted more than once
    assert (hospital["trust"] == hospital["provider"]).all()
    assert (hospital["diagnosis_system"] == SCT).all()


def test_feeds_overlap_gp_population_with_realistic_nhs_number_noise(truth, social, gp_patients):
    linked = truth[(truth["feed"] == "social_care") & (truth["patient_id"] != "")].set_index("record_id")
    strangers = truth[(truth["feed"] == "social_care") & (truth["patient_id"] == "")]
    assert len(linked) > 0.9 * len(social) and len(strangers) > 0
    assert linked["patient_id"].isin(gp_patients.index).all()
    rec = social.set_index("record_id").loc[linked.index]
    true_nhs = gp_patients.loc[linked["patient_id"], "nhs_number"].to_numpy()
    missing = (rec["nhs_number"] == "").mean()
    agree = (rec["nhs_number"].to_numpy() == true_nhs).mean()
    assert 0.1 < missing < 0.45  # social care often lacks the NHS number
    assert 0.5 < agree < 0.9  # most present numbers are right, some are wrong
    # Names are noisy too, but mostly still match.
    same_family = rec["family_name"].to_numpy() == gp_patients.loc[linked["patient_id"], "family_name"].to_numpy()
    assert 0.8 < same_family.mean() < 1.0


def test_hospital_nhs_numbers_are_mostly_present(truth, hospital):
    assert (hospital["nhs_number"] != "").mean() > 0.85


def test_fhir_lines_are_valid_json_with_uk_core_systems(fhir_run):
    root = fhir_run.out_dir
    patients = set()
    for path in sorted(root.glob("gp/*/*/fhir/Patient.ndjson")):
        for res in ndjson(path):
            assert res["resourceType"] == "Patient"
            assert res["identifier"][0]["system"] == NHS_SYSTEM
            assert res["generalPractitioner"][0]["identifier"]["system"] == ODS_SYSTEM
            assert res["gender"] in ("male", "female", "unknown")
            patients.add(f"Patient/{res['id']}")
    assert len(patients) == fhir_run.patients
    for rtype in ("Condition", "Observation", "MedicationRequest", "Immunization", "Encounter", "EpisodeOfCare"):
        seen = 0
        for path in sorted(root.glob(f"gp/*/*/fhir/{rtype}.ndjson")):
            for res in ndjson(path):
                seen += 1
                assert res["resourceType"] == rtype
                ref = (res.get("subject") or res.get("patient"))["reference"]
                assert ref in patients
                if rtype in ("Condition", "Observation"):
                    assert res["code"]["coding"][0]["system"] == SCT
                if rtype == "MedicationRequest":
                    assert res["medicationCodeableConcept"]["coding"][0]["system"] == "https://dmd.nhs.uk"
                if rtype == "Observation" and "valueQuantity" in res:
                    q = res["valueQuantity"]
                    assert q["system"] == "http://unitsofmeasure.org" and q["unit"] == q["code"]
        assert seen > 0, rtype


def test_manifests_describe_the_files_exactly(mixed_faulty_run):
    root = mixed_faulty_run.out_dir
    manifests = list(root.glob("*/*/*/manifest.json"))
    feeds = {json.loads(m.read_text())["feed"] for m in manifests}
    assert feeds == {"gp", "social_care", "hospital"}
    for m in manifests:
        doc = json.loads(m.read_text())
        for rel, meta in doc["files"].items():
            data = (m.parent / rel).read_bytes()
            assert hashlib.sha256(data).hexdigest() == meta["sha256"]
            if rel.endswith(".ndjson"):
                assert data.count(b"\n") == meta["rows"]
            elif rel.endswith(".csv"):
                assert data.count(b"\n") == meta["rows"] + 1
            else:  # a Bundle: rows are its entries
                assert len(json.loads(data)["entry"]) == meta["rows"]


def test_reference_practices_has_the_schema_columns(csv_run):
    from carecommons.core.schema import PRACTICES

    practices = pd.read_csv(csv_run.paths["practices"])
    assert list(practices.columns) == PRACTICES.column_names
    written = {p.parts[-3] for p in csv_run.out_dir.glob("gp/*/*/manifest.json")}
    assert written == set(practices["practice_id"])


def test_hospital_bundles_split_at_the_discharge_limit(tmp_path, monkeypatch):
    from carecommons.synth import config, generate
    from synth.helpers import EXTRACT

    monkeypatch.setattr(config, "BUNDLE_MAX_ENTRIES", 7)
    summary = generate(tmp_path, 1000, seed=2, format="csv", extract_date=EXTRACT, progress=False)
    files = sorted(tmp_path.glob("hospital/*/*/discharges-*.json"))
    assert any(p.name == "discharges-002.json" for p in files)
    total = 0
    for path in files:
        resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
        encounters = sum(r["resourceType"] == "Encounter" for r in resources)
        ids = [r["id"] for r in resources if r["resourceType"] == "Patient"]
        assert 0 < encounters <= 7 and len(ids) == len(set(ids))
        total += encounters
    assert total == summary.hospital_discharges
