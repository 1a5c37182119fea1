"""QRISK3 over a hand-made store: each derived input, the exclusions, imputation flags and clipping.

Expected scores come from the scalar `qrisk3` (validated against ClinRisk's reference) with the inputs a clinician
would read off the hand-made record, so these tests check the mapping from codes to inputs.
"""

from __future__ import annotations

import math

import pytest

from carecommons.risk import qrisk3
from carecommons.risk.qrisk import CURRENT_SMOKER_CATEGORY, qrisk3_for_store

PAKISTANI = "154179001"


def test_full_record_maps_to_published_inputs(store) -> None:
    store.patient("a", age=62, sex="M", ethnicity_code=PAKISTANI)
    store.event("a", store.code("af"), store.ago(2000))
    store.event("a", store.code("ra"), store.ago(3000))
    store.event("a", store.code("hyp"), store.ago(1500))
    store.event("a", store.code("dm"), store.ago(900))  # DM_COD's first sorted code is not a type 1 term
    store.event("a", store.code("bmi"), store.ago(700), 31.5)
    store.event("a", store.code("bmi"), store.ago(2500), 25.0)  # older than 5 years: ignored
    store.event("a", store.code("chol_total"), store.ago(200), 6.0)
    store.event("a", store.code("chol_hdl"), store.ago(210), 1.5)
    for days, sbp in ((10, 150), (100, 140), (400, 160)):
        store.event("a", store.code("sys_bp"), store.ago(days), sbp)
    store.event("a", store.code("smoke_ex"), store.ago(3000))
    store.event("a", store.code("smoke_current"), store.ago(50))
    for days in (10, 40):
        store.med("a", store.code("oral_steroid"), store.ago(days))

    out = qrisk3_for_store(store.con, store.index)
    row = out.set_index("patient_id").loc[store.ids["a"]]
    sd = math.sqrt(((150 - 150) ** 2 + (140 - 150) ** 2 + (160 - 150) ** 2) / 2)
    expected = qrisk3(
        sex="M", age=62, b_AF=1, b_ra=1, b_treatedhyp=1, b_type2=1, b_corticosteroids=1, bmi=31.5, ethrisk=3,
        rati=4.0, sbp=150, sbps5=sd, smoke_cat=CURRENT_SMOKER_CATEGORY, town=None,
    )  # fmt: skip
    assert row["qrisk3"] == pytest.approx(expected, rel=1e-9)
    assert row["imputed"] == ("town",)
    assert row["clipped"] == () and not row["on_statin"]
    assert (row["b_type1"], row["b_type2"], row["b_renal"], row["b_semi"]) == (0, 1, 0, 0)


def test_population_and_exclusions(store) -> None:
    store.patient("young", age=24)
    store.patient("old", age=85)
    store.patient("chd", age=60)
    store.event("chd", store.code("chd"), store.ago(100))
    store.patient("dead", age=60, died=store.ago(10))
    store.patient("ok", age=40)
    out = qrisk3_for_store(store.con, store.index)
    assert out["patient_id"].tolist() == [store.ids["ok"]]


def test_missing_everything_is_imputed_and_flagged(store) -> None:
    store.patient("bare", age=50, sex="F")
    row = qrisk3_for_store(store.con, store.index).iloc[0]
    assert set(row["imputed"]) == {"bmi", "rati", "sbp", "sbps5", "town", "ethrisk", "smoke_cat"}
    assert row["qrisk3"] == pytest.approx(qrisk3(sex="F", age=50), rel=1e-12)
    assert math.isnan(row["bmi"]) and math.isnan(row["sbp"])


def test_resolved_and_type1_and_clipping(store) -> None:
    store.patient("b", age=45, sex="F")
    store.event("b", store.code("hyp"), store.ago(1000))
    store.event("b", store.code("hyp_res"), store.ago(500))  # resolved since: not treated hypertension
    type1 = next(c for c in sorted(store_codes("dm")) if "type 1" in store_terms("dm")[c].lower())
    store.event("b", type1, store.ago(3000))
    store.event("b", store.code("bmi"), store.ago(30), 52.0)  # above 40: clipped
    store.event("b", store.code("chol_ratio"), store.ago(30), 3.1)
    store.event("b", store.code("chol_total"), store.ago(30), 9.0)  # a coded ratio wins over a derived one
    store.event("b", store.code("chol_hdl"), store.ago(30), 1.0)
    store.event("b", store.code("smoke_never"), store.ago(30))
    store.med("b", store.code("statin"), store.ago(60))
    row = qrisk3_for_store(store.con, store.index).iloc[0]
    assert (row["b_treatedhyp"], row["b_type1"], row["b_type2"]) == (0, 1, 0)
    assert row["clipped"] == ("bmi",) and row["bmi"] == 40
    assert row["rati"] == pytest.approx(3.1) and row["smoke_cat"] == 0 and row["on_statin"]
    expected = qrisk3(sex="F", age=45, b_type1=1, bmi=40, rati=3.1, smoke_cat=0, ethrisk=None)
    assert row["qrisk3"] == pytest.approx(expected, rel=1e-9)


def store_codes(name: str) -> frozenset[str]:
    from carecommons.risk import codes

    return codes.snomed(name).codes


def store_terms(name: str) -> dict[str, str]:
    from carecommons.risk import codes

    return codes.snomed(name).terms
