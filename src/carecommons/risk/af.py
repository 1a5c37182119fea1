"""Stroke and bleeding risk in atrial fibrillation: CHA2DS2-VASc and ORBIT, as pure functions and over the store.

CHA2DS2-VASc: Lip GYH et al. Chest 2010;137:263-272 (heart failure 1, hypertension 1, age >= 75 2, diabetes 1,
stroke/TIA/thromboembolism 2, vascular disease 1, age 65-74 1, female 1; maximum 9). NICE NG196 recommends offering
anticoagulation from a score of 2 and considering it for men at 1.

ORBIT: O'Brien EC et al. Eur Heart J 2015;36:3258-3264 (older >= 75 1, reduced haemoglobin/haematocrit or anaemia 2,
bleeding history 2, insufficient kidney function eGFR < 60 1, treatment with antiplatelets 1; low 0-2, medium 3,
high 4-7); NICE NG196 prefers ORBIT to HAS-BLED. Bleeding history and antiplatelet treatment have no shipped
codelist: they count 0 and ORBIT_UNAVAILABLE says so, so a store score is a lower bound.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from carecommons.risk import codes
from carecommons.risk._store import Feature, check_index_date, features, population, wide

ANTICOAGULANT_MONTHS = 6
EGFR_MONTHS = 24
ORBIT_UNAVAILABLE = ("bleeding history (no codelist shipped)", "antiplatelet treatment (no dm+d list shipped)")


def cha2ds2_vasc_score(
    age: npt.ArrayLike,
    female: npt.ArrayLike,
    heart_failure: npt.ArrayLike,
    hypertension: npt.ArrayLike,
    diabetes: npt.ArrayLike,
    stroke_tia: npt.ArrayLike,
    vascular: npt.ArrayLike,
) -> np.ndarray:
    """CHA2DS2-VASc for arrays of people (ages in years, the rest booleans)."""
    a = np.asarray(age, dtype=np.float64)
    b = [np.asarray(x, dtype=bool).astype(np.int64) for x in (female, heart_failure, hypertension, diabetes, vascular)]
    return (
        np.where(a >= 75, 2, np.where(a >= 65, 1, 0)) + 2 * np.asarray(stroke_tia, dtype=bool).astype(np.int64) + sum(b)
    ).astype(np.int64)


def orbit_score(
    age: npt.ArrayLike,
    anaemia: npt.ArrayLike,
    bleeding: npt.ArrayLike,
    egfr_below_60: npt.ArrayLike,
    antiplatelet: npt.ArrayLike,
) -> np.ndarray:
    """ORBIT bleeding score for arrays of people."""

    def flag(x: npt.ArrayLike) -> np.ndarray:
        return np.asarray(x, dtype=bool).astype(np.int64)

    return (
        (np.asarray(age, dtype=np.float64) >= 75).astype(np.int64)
        + 2 * flag(anaemia)
        + 2 * flag(bleeding)
        + flag(egfr_below_60)
        + flag(antiplatelet)
    )


def orbit_category(score: npt.ArrayLike) -> np.ndarray:
    """ORBIT risk band: low (0-2), medium (3), high (4+)."""
    s = np.asarray(score)
    return np.select([s <= 2, s == 3], ["low", "medium"], "high")


def _af_features() -> list[Feature]:
    s = codes.snomed
    out = [
        Feature(n, s(n).codes) for n in ("af", "hf", "hyp", "hyp_res", "dm", "dm_res", "stroke", "tia", "chd", "pad")
    ]
    out.append(Feature("anaemia", s("anaemia").codes))
    out.append(Feature("egfr", s("egfr").codes, months=EGFR_MONTHS))
    anticoag = codes.dmd("doac").codes | codes.dmd("warfarin").codes
    out.append(Feature("anticoagulant", anticoag, "medications", months=ANTICOAGULANT_MONTHS))
    return out


def _af_table(
    con: duckdb.DuckDBPyConnection, index_date: dt.date | str, patient_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """One row per registered adult with an AF code, with every fact both scores and case finding need."""
    d = check_index_date(index_date)
    pop = population(con, d, min_age=18, patient_ids=patient_ids)
    long = features(con, d, _af_features())
    names = [f.name for f in _af_features()]
    stats = {f"{n}_last": f"{n}.last_date" for n in names}
    stats.update({"egfr_value": "egfr.last_value"})
    w = wide(long, pop["patient_id"], stats).reset_index()
    w = w.merge(pop[["patient_id", "sex", "age", "practice_id"]], on="patient_id")
    w = w[w["af_last"].notna()].reset_index(drop=True)

    def active(flag: str, resolved: str) -> pd.Series:
        return w[f"{flag}_last"].notna() & (w[f"{resolved}_last"].isna() | (w[f"{flag}_last"] > w[f"{resolved}_last"]))

    return pd.DataFrame(
        {
            "patient_id": w["patient_id"],
            "sex": w["sex"],
            "age": w["age"],
            "heart_failure": w["hf_last"].notna(),
            "hypertension": active("hyp", "hyp_res"),
            "diabetes": active("dm", "dm_res"),
            "stroke_tia": w["stroke_last"].notna() | w["tia_last"].notna(),
            "vascular": w["chd_last"].notna() | w["pad_last"].notna(),
            "anaemia": w["anaemia_last"].notna(),
            "egfr": w["egfr_value"],
            "on_anticoagulant": w["anticoagulant_last"].notna(),
        }
    )


def cha2ds2_vasc(
    con: duckdb.DuckDBPyConnection, index_date: dt.date | str, patient_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """CHA2DS2-VASc of every registered adult with atrial fibrillation (AFIB_COD ever).

    Columns: patient_id, sex, age, the seven components, score, on_anticoagulant (a DOAC or warfarin issued in
    the last 6 months). Stroke/TIA uses STRK_COD and TIA_COD (no systemic thromboembolism list is shipped);
    vascular disease uses CHD_COD and PAD_COD.
    """
    t = _af_table(con, index_date, patient_ids)
    t["score"] = cha2ds2_vasc_score(
        t["age"], t["sex"] == "F", t["heart_failure"], t["hypertension"], t["diabetes"], t["stroke_tia"], t["vascular"]
    )
    cols = ["patient_id", "sex", "age", "heart_failure", "hypertension", "diabetes", "stroke_tia", "vascular"]
    return t[[*cols, "score", "on_anticoagulant"]]


def orbit(
    con: duckdb.DuckDBPyConnection, index_date: dt.date | str, patient_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """ORBIT bleeding score of every registered adult with atrial fibrillation.

    Reduced haemoglobin is read as any anaemia code (eFI anaemia list; no haemoglobin value list is shipped);
    insufficient kidney function is the latest eGFR in 2 years below 60. Bleeding history and antiplatelets are
    unavailable (see ORBIT_UNAVAILABLE) and count 0. Columns: patient_id, age, anaemia, egfr_below_60, score,
    category.
    """
    t = _af_table(con, index_date, patient_ids)
    egfr_low = (t["egfr"] < 60).fillna(False).astype(bool)
    zeros = np.zeros(len(t), dtype=bool)
    score = orbit_score(t["age"], t["anaemia"], zeros, egfr_low, zeros)
    return pd.DataFrame(
        {
            "patient_id": t["patient_id"],
            "age": t["age"],
            "anaemia": t["anaemia"],
            "egfr_below_60": egfr_low,
            "score": score,
            "category": orbit_category(score),
        }
    )
