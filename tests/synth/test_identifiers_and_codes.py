"""NHS numbers, codes and names in the written output (CSV and FHIR alike)."""

from __future__ import annotations

import json

import pandas as pd

from carecommons.core.nhs_number import is_valid
from carecommons.reference.codelists import CODELIST_DIR, load_csv, load_txt
from carecommons.synth import OPT_OUT_TYPE1_CODE
from carecommons.synth.medicines import DOACS, STATINS
from carecommons.synth.names import NICKNAMES, POOLS_FAMILY, POOLS_FEMALE, POOLS_MALE
from synth.helpers import ndjson, read_csv_extracts


def _all_nhs_numbers(run) -> list[str]:
    out = (
        list(read_csv_extracts(run.out_dir)["patients"]["nhs_number"])
        if any(run.out_dir.glob("gp/*/*/csv/patients.csv"))
        else []
    )
    for path in run.out_dir.glob("gp/*/*/fhir/Patient.ndjson"):
        for res in ndjson(path):
            ids = [i["value"] for i in res["identifier"] if i["system"] == "https://fhir.nhs.uk/Id/nhs-number"]
            out.extend(ids)
    return out


def test_nhs_numbers_valid_unique_and_unissuable(csv_run, fhir_run):
    for run in (csv_run, fhir_run):
        numbers = _all_nhs_numbers(run)
        assert len(numbers) == run.patients
        assert len(set(numbers)) == len(numbers)
        assert all(is_valid(n) for n in numbers)
        assert all(n.startswith("999") for n in numbers)  # the test range; ~909k numbers before 998 is used


def _shipped_codes() -> set[str]:
    codes: set[str] = set()
    for path in CODELIST_DIR.rglob("*.csv"):
        try:
            codes |= load_csv(path).codes
        except Exception:  # a few shipped CSVs are CTV3-only or not code lists; they are not used by synth
            continue
    for path in CODELIST_DIR.rglob("*.snomed.txt"):
        codes |= load_txt(path).codes
    return codes


def test_every_clinical_code_comes_from_a_shipped_codelist(csv_run):
    t = read_csv_extracts(csv_run.out_dir)
    shipped = _shipped_codes() | {OPT_OUT_TYPE1_CODE}
    assert set(t["events"]["code"]) <= shipped
    assert set(t["vaccinations"]["code"]) <= shipped
    assert set(t["patients"]["ethnicity_code"]) <= shipped
    assert set(t["medications"]["dmd_code"]) <= set(DOACS) | set(STATINS)


def test_type1_opt_out_is_about_three_percent(csv_run):
    t = read_csv_extracts(csv_run.out_dir)
    opted = t["events"].loc[t["events"]["code"] == OPT_OUT_TYPE1_CODE, "patient_id"].nunique()
    assert 0.025 < opted / csv_run.patients < 0.035  # 3% of 12k: SE 0.16 points


def test_case_finding_has_something_to_find(csv_run):
    t = read_csv_extracts(csv_run.out_dir)
    ev = t["events"]
    hyp = load_csv(CODELIST_DIR / "nhsd-primary-care-domain-refsets-hyp_cod.csv").codes
    dm = load_csv(CODELIST_DIR / "nhsd-primary-care-domain-refsets-dm_cod.csv").codes
    sys_bp = load_csv(CODELIST_DIR / "opensafely-systolic-blood-pressure-qof.csv").codes
    hba1c = load_txt(CODELIST_DIR / "gm-sde" / "hba1c.snomed.txt").codes
    values = pd.to_numeric(ev["value"], errors="coerce")
    raised_bp = set(ev.loc[ev["code"].isin(sys_bp) & (values >= 140), "patient_id"])
    high_a1c = set(ev.loc[ev["code"].isin(hba1c) & (values >= 48), "patient_id"])
    coded_hyp = set(ev.loc[ev["code"].isin(hyp), "patient_id"])
    coded_dm = set(ev.loc[ev["code"].isin(dm), "patient_id"])
    assert len(raised_bp - coded_hyp) > 50
    assert len(high_a1c - coded_dm) > 5
    # ...while most coded diabetics do have HbA1c readings in the diabetic range.
    assert len(high_a1c & coded_dm) > 0.5 * len(coded_dm)


def test_names_need_no_escaping_in_csv_or_json():
    names = {str(x) for pool in (POOLS_MALE, POOLS_FEMALE, POOLS_FAMILY) for arr in pool.values() for x in arr}
    names |= set(NICKNAMES) | set(NICKNAMES.values())
    for name in names:
        assert all(ch.isalpha() or ch in "-'" for ch in name), name
        assert json.loads(json.dumps(name)) == name


def test_readings_are_plausible_and_follow_registers(csv_run):
    t = read_csv_extracts(csv_run.out_dir)
    ev = t["events"].assign(v=lambda f: pd.to_numeric(f["value"], errors="coerce"))
    hyp = load_csv(CODELIST_DIR / "nhsd-primary-care-domain-refsets-hyp_cod.csv").codes
    dm = load_csv(CODELIST_DIR / "nhsd-primary-care-domain-refsets-dm_cod.csv").codes
    sys_bp = load_csv(CODELIST_DIR / "opensafely-systolic-blood-pressure-qof.csv").codes
    hba1c = load_txt(CODELIST_DIR / "gm-sde" / "hba1c.snomed.txt").codes
    on_hyp = set(ev.loc[ev["code"].isin(hyp), "patient_id"])
    on_dm = set(ev.loc[ev["code"].isin(dm), "patient_id"])
    bp = ev[ev["code"].isin(sys_bp)].sort_values("date").groupby("patient_id")["v"].last()
    assert bp.between(80, 230).all()
    hyp_bp = bp[bp.index.isin(on_hyp)]
    # A share of treated hypertensives above the QOF target (140 mmHg), but not most of them.
    assert 0.2 < (hyp_bp > 140).mean() < 0.6
    assert hyp_bp.mean() > bp[~bp.index.isin(on_hyp)].mean() + 10
    a1c = ev[ev["code"].isin(hba1c)]
    dm_a1c = a1c.loc[a1c["patient_id"].isin(on_dm), "v"]
    assert 50 < dm_a1c.median() < 66 and (dm_a1c >= 48).mean() > 0.7
    units = set(ev.loc[ev["v"].notna(), "unit"])
    assert units <= {"mm[Hg]", "mmol/mol", "mmol/L", "kg/m2", "mL/min/{1.73_m2}"}


def test_some_af_patients_lack_an_anticoagulant(csv_run):
    t = read_csv_extracts(csv_run.out_dir)
    af_codes = load_csv(CODELIST_DIR / "via_search_index" / "nhsd-primary-care-domain-refsets-afib_cod.csv").codes
    af = set(t["events"].loc[t["events"]["code"].isin(af_codes), "patient_id"])
    on_doac = set(t["medications"].loc[t["medications"]["dmd_code"].isin(DOACS), "patient_id"])
    untreated = len(af - on_doac) / len(af)
    assert 0.05 < untreated < 0.4  # 15% by design, plus AF patients whose record ended before the last 2 years
