"""Case finding over a hand-made store: one patient per search who should be found, and near-misses who should not."""

from __future__ import annotations

from carecommons.risk.case_finding import ACTIONS, COLUMNS, find


def _found(out, store) -> set[tuple[str, str]]:
    names = {v: k for k, v in store.ids.items()}
    return {(names[p], f) for p, f in zip(out["patient_id"], out["finding"], strict=True)}


def test_each_search_finds_its_case_and_not_the_near_miss(store) -> None:
    sbp, dbp, hba1c, egfr = (store.code(n) for n in ("sys_bp", "dia_bp", "hba1c", "egfr"))
    # hypertension: two raised systolic readings in 12 months, no diagnosis
    store.patient("bp_high", age=50)
    store.event("bp_high", sbp, store.ago(30), 152)
    store.event("bp_high", sbp, store.ago(200), 145)
    store.patient("bp_one", age=50)  # only one raised reading
    store.event("bp_one", sbp, store.ago(30), 152)
    store.event("bp_one", sbp, store.ago(60), 128)
    store.patient("bp_coded", age=50)  # already diagnosed
    store.event("bp_coded", store.code("hyp"), store.ago(900))
    store.event("bp_coded", sbp, store.ago(30), 160)
    store.event("bp_coded", sbp, store.ago(90), 158)
    store.patient("bp_dia", age=50)  # raised diastolic twice
    store.event("bp_dia", dbp, store.ago(30), 95)
    store.event("bp_dia", dbp, store.ago(40), 92)
    # diabetes: HbA1c 52 with no code; 47 is below the threshold
    store.patient("dm_high", age=55)
    store.event("dm_high", hba1c, store.ago(100), 52)
    store.patient("dm_border", age=55)
    store.event("dm_border", hba1c, store.ago(100), 47)
    # CKD: eGFR < 60 for over 90 days, latest still low; a single low value does not count
    store.patient("ckd_chronic", age=70)
    store.event("ckd_chronic", egfr, store.ago(300), 52)
    store.event("ckd_chronic", egfr, store.ago(20), 48)
    store.patient("ckd_once", age=70)
    store.event("ckd_once", egfr, store.ago(20), 48)
    store.event("ckd_once", egfr, store.ago(300), 75)
    # AF: CHA2DS2-VASc 2 (stroke) without anticoagulant; the anticoagulated one is not found
    store.patient("af_no_ac", age=60, sex="M")
    store.event("af_no_ac", store.code("af"), store.ago(500))
    store.event("af_no_ac", store.code("stroke"), store.ago(400))
    store.patient("af_ac", age=60, sex="M")
    store.event("af_ac", store.code("af"), store.ago(500))
    store.event("af_ac", store.code("stroke"), store.ago(400))
    store.med("af_ac", store.code("doac"), store.ago(20))
    # QRISK3 >= 10%: older smoker with high BP and cholesterol; same man on a statin is not found
    for who in ("cvd_risk", "cvd_statin"):
        store.patient(who, age=68, sex="M")
        store.event(who, store.code("smoke_current"), store.ago(100))
        store.event(who, store.code("chol_ratio"), store.ago(100), 6.0)
        store.event(who, sbp, store.ago(100), 135)
    store.med("cvd_statin", store.code("statin"), store.ago(30))
    store.patient("cvd_no_lipids", age=68, sex="M")  # same risk, but no lipid test to act on
    store.event("cvd_no_lipids", store.code("smoke_current"), store.ago(100))
    store.event("cvd_no_lipids", sbp, store.ago(100), 135)
    # frailty: 10 deficits (moderate); one with a care plan is not found
    for who in ("frail", "frail_planned"):
        store.patient(who, age=85)
        for deficit in ("falls", "hearing-loss", "dizziness", "urinary-incontinence", "arthritis", "anaemia",
                        "vision-problems", "sleep-disturbance", "dyspnoea", "osteoporosis"):  # fmt: skip
            store.event(who, store.code(f"efi:{deficit}"), store.ago(1000))

    out = find(store.con, store.index, care_plan_patient_ids=[store.ids["frail_planned"]])
    assert list(out.columns) == COLUMNS
    found = _found(out, store)
    expected_found = {
        ("bp_high", "undiagnosed_hypertension"),
        ("bp_dia", "undiagnosed_hypertension"),
        ("dm_high", "undiagnosed_diabetes"),
        ("ckd_chronic", "ckd_uncoded"),
        ("af_no_ac", "af_not_anticoagulated"),
        ("cvd_risk", "high_qrisk_no_statin"),
        ("frail", "frailty_no_care_plan"),
    }
    assert expected_found <= found
    for who in ("bp_one", "bp_coded", "dm_border", "ckd_once", "af_ac", "cvd_statin", "cvd_no_lipids", "frail_planned"):
        assert not any(name == who for name, _ in found), who
    assert out.set_index("finding").loc["undiagnosed_diabetes", "suggested_action"] == ACTIONS["undiagnosed_diabetes"]
    evidence = dict(zip(out["finding"], out["evidence"], strict=False))
    assert "52 mmol/mol" in evidence["undiagnosed_diabetes"]
    assert "CHA2DS2-VASc 2" in evidence["af_not_anticoagulated"]


def test_empty_store_returns_typed_empty_frame(store) -> None:
    out = find(store.con, store.index)
    assert out.empty and list(out.columns) == COLUMNS


def test_restricting_to_named_patients(store) -> None:
    for who in ("open_record", "someone_else"):
        store.patient(who, age=70)
        store.event(who, store.code("hba1c"), store.ago(10), 60)
        store.event(who, store.code("af"), store.ago(10))
    out = find(store.con, store.index, patient_ids=[store.ids["open_record"]])
    assert set(out["patient_id"]) == {store.ids["open_record"]}
    assert {"undiagnosed_diabetes", "af_not_anticoagulated"} <= set(out["finding"])
