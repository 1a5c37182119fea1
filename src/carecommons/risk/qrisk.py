"""QRISK3 for one person (`qrisk3`) and for every eligible patient in the record store (`qrisk3_for_store`).

The model itself (coefficients, missing-input policy) lives in `qrisk3_model`; this module is about inputs: checking
a clinician's values, and deriving the published inputs from coded records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from carecommons.core.errors import InvalidInput
from carecommons.risk.qrisk3_model import BINARY_INPUTS, IMPUTABLE, RANGES, qrisk3_arrays


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
    assert set(BINARY_INPUTS) <= set(arrays) and set(IMPUTABLE) <= set(arrays)
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
