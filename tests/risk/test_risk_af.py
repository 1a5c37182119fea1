"""CHA2DS2-VASc and ORBIT: the published point tables, then over a hand-made store."""

from __future__ import annotations

import numpy as np

from carecommons.risk.af import cha2ds2_vasc, cha2ds2_vasc_score, orbit, orbit_category, orbit_score


def test_cha2ds2_vasc_points() -> None:
    # Lip 2010: every item present gives the maximum of 9 (age >= 75 scores 2, so 65-74 cannot add)
    assert cha2ds2_vasc_score([80], [True], [True], [True], [True], [True], [True]).tolist() == [9]
    # a 78-year-old woman with hypertension and diabetes: A2 2 + Sc 1 + H 1 + D 1 = 5
    assert cha2ds2_vasc_score([78], [True], [False], [True], [True], [False], [False]).tolist() == [5]
    # age bands: 64 -> 0, 65 -> 1, 74 -> 1, 75 -> 2; male with nothing else
    f = [False] * 4
    assert cha2ds2_vasc_score([64, 65, 74, 75], f, f, f, f, f, f).tolist() == [0, 1, 1, 2]
    # previous stroke alone scores 2
    assert cha2ds2_vasc_score([50], [False], [False], [False], [False], [True], [False]).tolist() == [2]


def test_orbit_points_and_bands() -> None:
    # O'Brien 2015: older 1, reduced Hb 2, bleeding 2, eGFR < 60 1, antiplatelet 1 (max 7)
    assert orbit_score([80], [True], [True], [True], [True]).tolist() == [7]
    assert orbit_score([74, 75], [True, False], [False, False], [False, True], [False, False]).tolist() == [2, 2]
    assert orbit_category(np.array([0, 2, 3, 4, 7])).tolist() == ["low", "low", "medium", "high", "high"]


def test_af_scores_over_store(store) -> None:
    store.patient("woman", age=78, sex="F")
    store.patient("man", age=60, sex="M")
    store.patient("no_af", age=80, sex="F")
    for who in ("woman", "man"):
        store.event(who, store.code("af"), store.ago(1000))
    store.event("woman", store.code("hyp"), store.ago(3000))
    store.event("woman", store.code("dm"), store.ago(2000))
    store.event("woman", store.code("anaemia"), store.ago(500))
    store.event("woman", store.code("egfr"), store.ago(100), 45.0)
    store.event("man", store.code("stroke"), store.ago(300))
    store.event("man", store.code("egfr"), store.ago(100), 75.0)
    store.med("man", store.code("doac"), store.ago(30))
    store.event("no_af", store.code("hyp"), store.ago(100))

    c = cha2ds2_vasc(store.con, store.index).set_index("patient_id")
    assert set(c.index) == {store.ids["woman"], store.ids["man"]}
    assert c.loc[store.ids["woman"], "score"] == 5 and not c.loc[store.ids["woman"], "on_anticoagulant"]
    assert c.loc[store.ids["man"], "score"] == 2 and c.loc[store.ids["man"], "on_anticoagulant"]

    o = orbit(store.con, store.index).set_index("patient_id")
    # woman: older 1 + anaemia 2 + eGFR 45 < 60 1 = 4 (high); man: nothing = 0
    assert o.loc[store.ids["woman"], "score"] == 4 and o.loc[store.ids["woman"], "category"] == "high"
    assert o.loc[store.ids["man"], "score"] == 0 and o.loc[store.ids["man"], "category"] == "low"
