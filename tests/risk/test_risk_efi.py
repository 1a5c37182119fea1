"""eFI over a hand-made store: deficit counting, polypharmacy, the population and the Clegg categories."""

from __future__ import annotations

import numpy as np

from carecommons.risk.efi import category, frailty


def test_category_cut_offs_on_deficit_counts() -> None:
    # Clegg 2016: fit <= 0.12, mild <= 0.24, moderate <= 0.36, severe > 0.36; with 36 deficits,
    # 4/36 = 0.111 fit, 5/36 = 0.139 mild, 8/36 = 0.222 mild, 9/36 = 0.25 moderate, 13/36 = 0.361 severe
    counts = np.array([0, 4, 5, 8, 9, 12, 13, 36])
    assert category(counts / 36).tolist() == [
        "fit", "fit", "mild", "mild", "moderate", "moderate", "severe", "severe"
    ]  # fmt: skip


def test_frailty_counts_deficits_and_polypharmacy(store) -> None:
    store.patient("frail", age=82)
    store.patient("fit", age=70)
    store.patient("young", age=50)
    store.patient("left", age=90, registered=False)
    # five deficits, one coded twice with different codes, one after the index date (ignored)
    for deficit in ("falls", "hearing-loss", "chd", "dizziness", "urinary-incontinence"):
        store.event("frail", store.code(f"efi:{deficit}"), store.ago(400))
    store.event("frail", store.code("efi:falls", 1), store.ago(30))
    store.event("frail", store.code("efi:parkinsons"), store.ago(-5))
    # polypharmacy: 5 distinct products in the last 12 months; one older product does not count
    for i in range(5):
        store.med("frail", store.code("statin", i), store.ago(20 + i))
    store.med("fit", store.code("statin", 0), store.ago(500))
    for i in range(1, 5):
        store.med("fit", store.code("statin", i), store.ago(20))
    store.event("fit", store.code("efi:hypertension"), store.ago(1000))
    store.event("young", store.code("efi:falls"), store.ago(10))

    out = frailty(store.con, store.index).set_index("patient_id")
    assert set(out.index) == {store.ids["frail"], store.ids["fit"]}  # 65+, registered
    frail = out.loc[store.ids["frail"]]
    assert frail["deficits"] == sorted(
        ["chd", "dizziness", "falls", "hearing-loss", "polypharmacy", "urinary-incontinence"]
    )
    assert frail["deficit_count"] == 6 and frail["efi"] == 6 / 36 and frail["category"] == "mild"
    fit = out.loc[store.ids["fit"]]
    assert fit["deficits"] == ["hypertension"] and fit["category"] == "fit"


def test_frailty_empty_store(store) -> None:
    out = frailty(store.con, "2026-03-31")
    assert list(out.columns) == ["patient_id", "efi", "category", "deficits", "deficit_count"] and out.empty
