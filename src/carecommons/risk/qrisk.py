"""QRISK3 for one person (`qrisk3`) and for every eligible patient in the record store (`qrisk3_for_store`).

The model itself (coefficients, missing-input policy) lives in `qrisk3_model`; this module is about inputs: checking
a clinician's values, and deriving the published inputs from coded records.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import duckdb
import numpy as np
import pandas as pd

from carecommons.core.errors import InvalidInput
from carecommons.reference.codelists import CODELIST_DIR
from carecommons.risk import codes
from carecommons.risk._store import Feature, check_index_date, features, population, wide
from carecommons.risk.qrisk3_model import IMPUTABLE, RANGES, qrisk3_arrays


@dataclass(frozen=True)
class QriskResult:
    """A QRISK3 score with the names of the inputs that were imputed (empty when every input was measured)."""

    score: float
    imputed: tuple[str, ...]


def _check_range(name: str, value: float | None) -> None:
    if value is None:
        return
    low, high = RANGES[name]
    if not (low <= value <= high) or math.isnan(value):
        raise InvalidInput(name, f"{value} is outside the accepted range {low}-{high}", f"give a value in {low}-{high}")


def _sex_is_male(sex: str | int) -> bool:
    if sex in ("M", "m", 1):
        return True
    if sex in ("F", "f", 0):
        return False
    raise InvalidInput("sex", f"{sex!r} is not a sex QRISK3 is defined for", "give 'F' or 'M' (or 0 female, 1 male)")


def qrisk3_detailed(
    *,
    sex: str | int,
    age: float,
    b_AF: int = 0,
    b_atypicalantipsy: int = 0,
    b_corticosteroids: int = 0,
    b_impotence2: int = 0,
    b_migraine: int = 0,
    b_ra: int = 0,
    b_renal: int = 0,
    b_semi: int = 0,
    b_sle: int = 0,
    b_treatedhyp: int = 0,
    b_type1: int = 0,
    b_type2: int = 0,
    bmi: float | None = None,
    ethrisk: int | None = None,
    fh_cvd: int = 0,
    rati: float | None = None,
    sbp: float | None = None,
    sbps5: float | None = None,
    smoke_cat: int | None = None,
    surv: int = 10,
    town: float | None = None,
) -> QriskResult:
    """QRISK3 with the list of imputed inputs; see `qrisk3` for the arguments."""
    male = _sex_is_male(sex)
    if surv != 10:
        raise InvalidInput("surv", f"QRISK3-2017 publishes a baseline survival for 10 years only, not {surv}", "use 10")
    for name, value in (("age", age), ("bmi", bmi), ("rati", rati), ("sbp", sbp), ("sbps5", sbps5), ("town", town)):
        _check_range(name, value)
    if ethrisk is not None and ethrisk not in range(10):
        raise InvalidInput("ethrisk", f"{ethrisk} is not a QRISK3 ethnic group", "give 0-9 (0 = not recorded)")
    if smoke_cat is not None and smoke_cat not in range(5):
        raise InvalidInput("smoke_cat", f"{smoke_cat} is not a QRISK3 smoking category", "give 0-4")
    flags = {
        "b_AF": b_AF,
        "b_atypicalantipsy": b_atypicalantipsy,
        "b_corticosteroids": b_corticosteroids,
        "b_impotence2": b_impotence2 if male else 0,
        "b_migraine": b_migraine,
        "b_ra": b_ra,
        "b_renal": b_renal,
        "b_semi": b_semi,
        "b_sle": b_sle,
        "b_treatedhyp": b_treatedhyp,
        "b_type1": b_type1,
        "b_type2": b_type2,
        "fh_cvd": fh_cvd,
    }
    for name, value in flags.items():
        if value not in (0, 1, True, False):
            raise InvalidInput(name, f"{value!r} is not 0 or 1", "give 0 (absent) or 1 (present)")
    if b_type1 and b_type2:
        raise InvalidInput("b_type1, b_type2", "both diabetes types are set", "set at most one of them")
    measured = {"bmi": bmi, "rati": rati, "sbp": sbp, "sbps5": sbps5, "town": town, "ethrisk": ethrisk}
    measured["smoke_cat"] = smoke_cat
    arrays = {k: np.array([np.nan if v is None else float(v)]) for k, v in measured.items()}
    arrays.update({k: np.array([float(v)]) for k, v in flags.items()})
    scores, imputed = qrisk3_arrays(np.array([male]), age=np.array([float(age)]), **arrays)
    return QriskResult(float(scores[0]), tuple(k for k in IMPUTABLE if imputed[k][0]))


def qrisk3(
    *,
    sex: str | int,
    age: float,
    b_AF: int = 0,
    b_atypicalantipsy: int = 0,
    b_corticosteroids: int = 0,
    b_impotence2: int = 0,
    b_migraine: int = 0,
    b_ra: int = 0,
    b_renal: int = 0,
    b_semi: int = 0,
    b_sle: int = 0,
    b_treatedhyp: int = 0,
    b_type1: int = 0,
    b_type2: int = 0,
    bmi: float | None = None,
    ethrisk: int | None = None,
    fh_cvd: int = 0,
    rati: float | None = None,
    sbp: float | None = None,
    sbps5: float | None = None,
    smoke_cat: int | None = None,
    surv: int = 10,
    town: float | None = None,
) -> float:
    """10-year QRISK3-2017 cardiovascular risk in percent, arguments named as in the published algorithm.

    sex 'F'/'M' (or 0/1 as ClinRisk codes it); age 25-84; b_* flags 0/1 (b_impotence2 is ignored for women, as in the
    female model); ethrisk 0-9; smoke_cat 0-4; rati total/HDL cholesterol; sbp and sbps5 in mmHg; town Townsend score;
    surv must be 10. bmi, rati, sbp, sbps5, town, ethrisk and smoke_cat may be None: they are then imputed as
    documented in `carecommons.risk.qrisk3_model` (use `qrisk3_detailed` to learn which were). Raises InvalidInput
    for values outside the accepted ranges rather than extrapolating the model.
    """
    return qrisk3_detailed(
        sex=sex,
        age=age,
        b_AF=b_AF,
        b_atypicalantipsy=b_atypicalantipsy,
        b_corticosteroids=b_corticosteroids,
        b_impotence2=b_impotence2,
        b_migraine=b_migraine,
        b_ra=b_ra,
        b_renal=b_renal,
        b_semi=b_semi,
        b_sle=b_sle,
        b_treatedhyp=b_treatedhyp,
        b_type1=b_type1,
        b_type2=b_type2,
        bmi=bmi,
        ethrisk=ethrisk,
        fh_cvd=fh_cvd,
        rati=rati,
        sbp=sbp,
        sbps5=sbps5,
        smoke_cat=smoke_cat,
        surv=surv,
        town=town,
    ).score


# --- QRISK3 over the record store -------------------------------------------------------------------------------

#: Inputs this platform cannot derive from the canonical tables with the shipped codelists. They are set to 0
#: (absent), which can only under-estimate risk for the people who have them; listed so reports can say so.
UNAVAILABLE_INPUTS: dict[str, str] = {
    "b_atypicalantipsy": "no dm+d atypical antipsychotic list is shipped",
    "b_impotence2": "no erectile dysfunction codelist is shipped",
    "b_migraine": "no migraine codelist is shipped",
    "b_sle": "no systemic lupus erythematosus codelist is shipped",
    "fh_cvd": "no family-history-of-CHD codelist is shipped",
    "town": "the store holds IMD deciles, not Townsend scores: town is imputed as 0 (and flagged)",
}

#: Which codelist (risk.codes short names) backs each derived input, for documentation and audit.
INPUT_SOURCES: dict[str, str] = {
    "b_AF": "af (AFIB_COD) ever",
    "b_corticosteroids": "oral_steroid (prednisolone dm+d): >= 2 issues in 12 months, the latest within 28 days",
    "b_ra": "ra (RARTH_COD) ever",
    "b_renal": "ckd (CKD_COD, stage 3-5) latest after any ckd_res",
    "b_semi": "smi (MH_COD) ever",
    "b_treatedhyp": "hyp (HYP_COD) latest after any hyp_res: approximation, no antihypertensive list is shipped",
    "b_type1 / b_type2": "dm (DM_COD) latest after any dm_res; type 1 if any type-1 term, else type 2",
    "bmi": "bmi (BMIVAL_COD) latest value within 5 years",
    "rati": "chol_ratio latest within 5 years, else latest chol_total / latest chol_hdl within 5 years",
    "sbp": "sys_bp latest value within 5 years",
    "sbps5": "standard deviation of sys_bp values within 5 years (needs >= 2)",
    "smoke_cat": "latest of smoke_current (LSMOK_COD; amount unknown: moderate, 3), smoke_ex (1), smoke_never (0)",
    "ethrisk": "patients.ethnicity_code via the 16-group ethnicity codelist",
}

QRISK_MIN_AGE, QRISK_MAX_AGE = 25, 84
LOOKBACK_MONTHS = 60
#: Current smokers whose amount is not coded are put in the moderate (10-19/day) category.
CURRENT_SMOKER_CATEGORY = 3

# 16-group (2001 census) ethnicity -> QRISK3 ethrisk: White 1, Indian 2, Pakistani 3, Bangladeshi 4, Other Asian 5,
# Black Caribbean 6, Black African 7, Chinese 8; mixed, other Black and any other group -> Other (9).
_ETHRISK_BY_GROUP16 = {
    "1": 1, "2": 1, "3": 1, "4": 9, "5": 9, "6": 9, "7": 9, "8": 2,
    "9": 3, "10": 4, "11": 5, "12": 6, "13": 7, "14": 9, "15": 8, "16": 9,
}  # fmt: skip


@cache
def _ethrisk_lookup() -> dict[str, int]:
    path = CODELIST_DIR / "opensafely-ethnicity-snomed-0removed.csv"
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return {r["code"]: _ETHRISK_BY_GROUP16[r["Grouping_16"]] for r in csv.DictReader(fh)}


def _store_features() -> list[Feature]:
    s = codes.snomed
    ever = ("af", "ra", "smi", "ckd", "ckd_res", "hyp", "hyp_res", "dm", "dm_res", "chd", "stroke", "tia", "pad")
    out = [Feature(n, s(n).codes) for n in ever]
    out.append(Feature("dm_type1", codes.diabetes_type1_codes()))
    for n in ("bmi", "sys_bp", "chol_ratio", "chol_total", "chol_hdl"):
        out.append(Feature(n, s(n).codes, months=LOOKBACK_MONTHS))
    for n in ("smoke_current", "smoke_ex", "smoke_never"):
        out.append(Feature(n, s(n).codes))
    out.append(Feature("oral_steroid", codes.dmd("oral_steroid").codes, "medications", months=12))
    out.append(Feature("statin", codes.dmd("statin").codes, "medications", months=12))
    return out


def _names_from_flags(flags: np.ndarray, names: tuple[str, ...], n: int) -> pd.Series:
    """Per row, the list of names whose flag is set; built per distinct pattern, so 1 M rows cost a few patterns."""
    if n == 0:
        return pd.Series([], dtype=object)
    masks = (flags.astype(np.int64) << np.arange(len(names))).sum(axis=1)
    lists = {int(m): tuple(name for i, name in enumerate(names) if m >> i & 1) for m in np.unique(masks)}
    return pd.Series(masks).map(lists)


def _after(w: pd.DataFrame, flag: str, resolved: str) -> np.ndarray:
    """Coded and not resolved since: latest flag date after the latest resolved date (or no resolved code)."""
    last, res = w[f"{flag}_last"], w[f"{resolved}_last"]
    return (last.notna() & (res.isna() | (last > res))).to_numpy()


def _measured_inputs(w: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray, tuple[str, ...]]:
    """bmi, rati, sbp, sbps5 from the latest values (NaN = missing), clipped into RANGES, with the clip flags."""
    ratio = w["chol_ratio_value"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = w["chol_total_value"].to_numpy(dtype=float) / w["chol_hdl_value"].to_numpy(dtype=float)
    ratio = np.where(np.isnan(ratio) & np.isfinite(derived), derived, ratio)
    sd = np.where(w["sys_bp_values"].to_numpy() >= 2, w["sys_bp_sd"].to_numpy(dtype=float), np.nan)
    measured = {
        "bmi": w["bmi_value"].to_numpy(dtype=float),
        "rati": ratio,
        "sbp": w["sys_bp_value"].to_numpy(dtype=float),
        "sbps5": sd,
    }
    flags = []
    for name, values in measured.items():
        low, high = RANGES[name]
        flags.append(~np.isnan(values) & ((values < low) | (values > high)))
        measured[name] = np.clip(values, low, high)
    return measured, np.column_stack(flags) if len(w) else np.zeros((0, 4), bool), tuple(measured)


def _smoking_category(w: pd.DataFrame) -> np.ndarray:
    """QRISK3 smoke_cat from the latest smoking code: current -> CURRENT_SMOKER_CATEGORY, ex -> 1, never -> 0
    (but never after an earlier current/ex code -> 1); NaN when no smoking status is recorded."""
    latest = w[["smoke_current_last", "smoke_ex_last", "smoke_never_last"]]
    # NaT is the smallest int64, so the latest recorded status wins and missing ones never do
    which = latest.to_numpy(dtype="datetime64[ns]").astype(np.int64).argmax(axis=1)
    any_smoking = latest.notna().any(axis=1).to_numpy()
    ever_smoked = w[["smoke_current_last", "smoke_ex_last"]].notna().any(axis=1).to_numpy()
    smoke = np.select([which == 0, which == 1, ever_smoked], [CURRENT_SMOKER_CATEGORY, 1, 1], 0).astype(float)
    return np.where(any_smoking, smoke, np.nan)


def qrisk3_for_store(
    con: duckdb.DuckDBPyConnection, index_date: dt.date | str, patient_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """QRISK3 of every registered patient aged 25-84 without established CVD (CHD, stroke, TIA, PAD).

    Inputs are derived as listed in INPUT_SOURCES; UNAVAILABLE_INPUTS are set to 0. Missing measurements follow
    the documented imputation policy (`qrisk3_model`); values outside the accepted ranges are clipped into them.
    Columns: patient_id, sex, age, qrisk3, every model input, imputed (tuple of input names), clipped (tuple),
    on_statin (a statin issued in the last 12 months), lipids_measured (a cholesterol, HDL or ratio value in 5
    years: where only total cholesterol is recorded the ratio is still imputed, but a lipid test exists to act on).
    `patient_ids` restricts the run to named patients.
    """
    d = check_index_date(index_date)
    pop = population(con, d, QRISK_MIN_AGE, QRISK_MAX_AGE, patient_ids)
    pop = pop[pop["sex"].isin(["F", "M"])].reset_index(drop=True)
    long = features(con, d, _store_features())
    stats: dict[str, str] = {}
    for f in _store_features():
        stats[f"{f.name}_last"] = f"{f.name}.last_date"
        stats[f"{f.name}_n"] = f"{f.name}.n"
    for n in ("bmi", "sys_bp", "chol_ratio", "chol_total", "chol_hdl"):
        stats[f"{n}_value"] = f"{n}.last_value"
    stats["sys_bp_sd"] = "sys_bp.value_sd"
    stats["sys_bp_values"] = "sys_bp.n_values"
    w = wide(long, pop["patient_id"], stats).reset_index()
    cvd = (w[["chd_n", "stroke_n", "tia_n", "pad_n"]] > 0).any(axis=1).to_numpy()
    keep = ~cvd
    w, pop = w[keep].reset_index(drop=True), pop[keep].reset_index(drop=True)

    inputs: dict[str, np.ndarray] = {
        "b_AF": (w["af_n"] > 0).to_numpy(),
        "b_atypicalantipsy": np.zeros(len(w), bool),
        "b_corticosteroids": (
            (w["oral_steroid_n"] >= 2) & (w["oral_steroid_last"] >= pd.Timestamp(d - dt.timedelta(days=28)))
        ).to_numpy(),
        "b_impotence2": np.zeros(len(w), bool),
        "b_migraine": np.zeros(len(w), bool),
        "b_ra": (w["ra_n"] > 0).to_numpy(),
        "b_renal": _after(w, "ckd", "ckd_res"),
        "b_semi": (w["smi_n"] > 0).to_numpy(),
        "b_sle": np.zeros(len(w), bool),
        "b_treatedhyp": _after(w, "hyp", "hyp_res"),
        "fh_cvd": np.zeros(len(w), bool),
    }
    diabetic = _after(w, "dm", "dm_res")
    type1 = diabetic & (w["dm_type1_n"] > 0).to_numpy()
    inputs["b_type1"], inputs["b_type2"] = type1, diabetic & ~type1

    measured, clipped, clip_names = _measured_inputs(w)
    smoke = _smoking_category(w)

    lookup = _ethrisk_lookup()
    eth = pop["ethnicity_code"].map(lookup).to_numpy(dtype=float)

    male = (pop["sex"] == "M").to_numpy()
    inputs["b_impotence2"] = inputs["b_impotence2"] & male
    scores, imputed = qrisk3_arrays(
        male,
        age=pop["age"].to_numpy(dtype=float),
        **{k: v.astype(float) for k, v in inputs.items()},
        **measured,
        ethrisk=eth,
        smoke_cat=smoke,
        town=np.full(len(w), np.nan),
    )
    out = pd.DataFrame({"patient_id": pop["patient_id"], "sex": pop["sex"], "age": pop["age"], "qrisk3": scores})
    for k, v in inputs.items():
        out[k] = v.astype("int8")
    for k, v in measured.items():
        out[k] = np.where(imputed[k], np.nan, v)
    out["ethrisk"] = np.where(imputed["ethrisk"], np.nan, eth)
    out["smoke_cat"] = np.where(imputed["smoke_cat"], np.nan, smoke)
    out["imputed"] = _names_from_flags(np.column_stack([imputed[k] for k in IMPUTABLE]), IMPUTABLE, len(w))
    out["clipped"] = _names_from_flags(clipped, clip_names, len(w))
    out["on_statin"] = (w["statin_n"] > 0).to_numpy()
    out["lipids_measured"] = (
        w[["chol_ratio_value", "chol_total_value", "chol_hdl_value"]].notna().any(axis=1)
    ).to_numpy()
    return out
