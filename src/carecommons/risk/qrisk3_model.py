"""QRISK3-2017: the published 10-year cardiovascular risk algorithm, vectorised with numpy.

Source of the model (facts, not code): Hippisley-Cox J, Coupland C, Brindle P. Development and validation of QRISK3
risk prediction algorithms to estimate future risk of cardiovascular disease. BMJ 2017;357:j2099; coefficients,
centring values and baseline survival as released by ClinRisk Ltd under the LGPL (QRISK3-2017, https://qrisk.org).
The implementation here is our own; it is checked against the ClinRisk C source on >= 100 cases
(tests/risk/data/qrisk3_reference_cases.json).

Inputs use the names of the published algorithm so a clinician can compare them with the ClinRisk documentation:
ethrisk 0..9 (0 not recorded, 1 White or not stated, 2 Indian, 3 Pakistani, 4 Bangladeshi, 5 Other Asian,
6 Black Caribbean, 7 Black African, 8 Chinese, 9 Other), smoke_cat 0..4 (non, ex, light <10/day, moderate 10-19/day,
heavy 20+/day), rati total/HDL cholesterol ratio, sbp systolic blood pressure (mmHg), sbps5 the standard deviation of
recent systolic readings, town the Townsend deprivation score. The model is only defined for a 10-year horizon.

Missing inputs (the policy, also in docs of `qrisk3_arrays`): a missing bmi, rati, sbp or sbps5 is set to the
sex-specific centring value of the model (the derivation cohort mean), so the term contributes nothing and the score is
that of an otherwise identical person with average values; a missing town is 0 (the national mean of the Townsend
score by construction); a missing ethrisk is 0 (not recorded: same coefficient as White); a missing smoke_cat is 0
(non-smoker). Every imputation is reported per person so nobody mistakes an imputed score for a measured one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Accepted input ranges. Age 25-84 is the range QRISK3 was derived and validated on (BMJ 2017); the others are this
#: platform's plausibility limits (values outside are rejected by `qrisk3` and clipped with a flag by the store run).
RANGES: dict[str, tuple[float, float]] = {
    "age": (25, 84),
    "bmi": (20, 40),
    "rati": (1, 12),
    "sbp": (70, 210),
    "sbps5": (0, 40),
    "town": (-7, 11),
}

BINARY_INPUTS = (
    "b_AF",
    "b_atypicalantipsy",
    "b_corticosteroids",
    "b_impotence2",
    "b_migraine",
    "b_ra",
    "b_renal",
    "b_semi",
    "b_sle",
    "b_treatedhyp",
    "b_type1",
    "b_type2",
    "fh_cvd",
)


@dataclass(frozen=True)
class _SexModel:
    """Coefficients of one sex's Cox model, named after the published terms."""

    survivor_10y: float
    ethrisk: tuple[float, ...]  # index 0..9
    smoke: tuple[float, ...]  # index 0..4
    centre: dict[str, float]
    main: dict[str, float]
    age1_x: dict[str, float]  # interactions with the first age term
    age2_x: dict[str, float]  # interactions with the second age term
    age1_smoke: tuple[float, float, float, float]  # smoke_cat 1..4
    age2_smoke: tuple[float, float, float, float]


FEMALE = _SexModel(
    survivor_10y=0.988876402378082,
    ethrisk=(
        0.0,
        0.0,
        0.28040314332995425,
        0.56298994142075398,
        0.29590000851116516,
        0.072785379877982545,
        -0.17072135508857317,
        -0.39371043314874971,
        -0.32632495283530272,
        -0.17127056883241784,
    ),
    smoke=(0.0, 0.13386833786546262, 0.56200858012438537, 0.66749593377502547, 0.84948177644830847),
    centre={
        "age_1": 0.053274843841791,
        "age_2": 4.332503318786621,
        "bmi_1": 0.154946178197861,
        "bmi_2": 0.144462317228317,
        "rati": 3.476326465606690,
        "sbp": 123.130012512207030,
        "sbps5": 9.002537727355957,
        "town": 0.392308831214905,
    },
    main={
        "age_1": -8.1388109247726188,
        "age_2": 0.79733376689699098,
        "bmi_1": 0.29236092275460052,
        "bmi_2": -4.1513300213837665,
        "rati": 0.15338035820802554,
        "sbp": 0.013131488407103424,
        "sbps5": 0.0078894541014586095,
        "town": 0.077223790588590108,
        "b_AF": 1.5923354969269663,
        "b_atypicalantipsy": 0.25237642070115557,
        "b_corticosteroids": 0.59520725304601851,
        "b_impotence2": 0.0,
        "b_migraine": 0.301267260870345,
        "b_ra": 0.21364803435181942,
        "b_renal": 0.65194569493845833,
        "b_semi": 0.12555308058820178,
        "b_sle": 0.75880938654267693,
        "b_treatedhyp": 0.50931593683423004,
        "b_type1": 1.7267977510537347,
        "b_type2": 1.0688773244615468,
        "fh_cvd": 0.45445319020896213,
    },
    age1_x={
        "b_AF": 19.938034889546561,
        "b_corticosteroids": -0.98408045235936281,
        "b_migraine": 1.7634979587872999,
        "b_renal": -3.5874047731694114,
        "b_sle": 19.690303738638292,
        "b_treatedhyp": 11.872809733921812,
        "b_type1": -1.2444332714320747,
        "b_type2": 6.8652342000009599,
        "bmi_1": 23.802623412141742,
        "bmi_2": -71.184947692087007,
        "fh_cvd": 0.99467807940435127,
        "sbp": 0.034131842338615485,
        "town": -1.0301180802035639,
    },
    age2_x={
        "b_AF": -0.076182651011162505,
        "b_corticosteroids": -0.12005364946742472,
        "b_migraine": -0.065586917898699859,
        "b_renal": -0.22688873086442507,
        "b_sle": 0.077347949679016273,
        "b_treatedhyp": 0.00096857823588174436,
        "b_type1": -0.28724064624488949,
        "b_type2": -0.097112252590695489,
        "bmi_1": 0.52369958933664429,
        "bmi_2": 0.045744190122323759,
        "fh_cvd": -0.076885051698423038,
        "sbp": -0.0015082501423272358,
        "town": -0.031593414674962329,
    },
    age1_smoke=(-4.7057161785851891, -2.7430383403573337, -0.86608088829392182, 0.90241562369710648),
    age2_smoke=(-0.075589244643193026, -0.11951192874867074, -0.10366306397571923, -0.13991853591718389),
)

MALE = _SexModel(
    survivor_10y=0.977268040180206,
    ethrisk=(
        0.0,
        0.0,
        0.27719248760308279,
        0.47446360714931268,
        0.52961729919689371,
        0.035100159186299017,
        -0.35807899669327919,
        -0.4005648523216514,
        -0.41522792889830173,
        -0.26321348134749967,
    ),
    smoke=(0.0, 0.19128222863388983, 0.55241588192645552, 0.63835053027506072, 0.78983819881858019),
    centre={
        "age_1": 0.234766781330109,
        "age_2": 77.284080505371094,
        "bmi_1": 0.149176135659218,
        "bmi_2": 0.141913309693336,
        "rati": 4.300998687744141,
        "sbp": 128.571578979492190,
        "sbps5": 8.756621360778809,
        "town": 0.526304900646210,
    },
    main={
        "age_1": -17.839781666005575,
        "age_2": 0.0022964880605765492,
        "bmi_1": 2.4562776660536358,
        "bmi_2": -8.3011122314711354,
        "rati": 0.17340196856327111,
        "sbp": 0.012910126542553305,
        "sbps5": 0.010251914291290456,
        "town": 0.033268201277287295,
        "b_AF": 0.88209236928054657,
        "b_atypicalantipsy": 0.13046879855173513,
        "b_corticosteroids": 0.45485399750445543,
        "b_impotence2": 0.22251859086705383,
        "b_migraine": 0.25584178074159913,
        "b_ra": 0.20970658013956567,
        "b_renal": 0.71853261288274384,
        "b_semi": 0.12133039882047164,
        "b_sle": 0.4401572174457522,
        "b_treatedhyp": 0.51659871082695474,
        "b_type1": 1.2343425521675175,
        "b_type2": 0.85942071430932221,
        "fh_cvd": 0.54055469009390156,
    },
    age1_x={
        "b_AF": 3.4896675530623207,
        "b_corticosteroids": 1.1708133653489108,
        "b_impotence2": -1.506400985745431,
        "b_migraine": 2.3491159871402441,
        "b_renal": -0.50656716327223694,
        "b_treatedhyp": 6.5114581098532671,
        "b_type1": 5.3379864878006531,
        "b_type2": 3.6461817406221311,
        "bmi_1": 31.004952956033886,
        "bmi_2": -111.29157184391643,
        "fh_cvd": 2.7808628508531887,
        "sbp": 0.018858524469865853,
        "town": -0.1007554870063731,
    },
    age2_x={
        "b_AF": -0.00034995608340636049,
        "b_corticosteroids": -0.0002496045095297166,
        "b_impotence2": -0.0011058218441227373,
        "b_migraine": 0.00019896446041478631,
        "b_renal": -0.0018325930166498813,
        "b_treatedhyp": 0.00063838053104165013,
        "b_type1": 0.0006409780808752897,
        "b_type2": -0.00024695695588868315,
        "bmi_1": 0.0050380102356322029,
        "bmi_2": -0.013074483002524319,
        "fh_cvd": -0.00024791809907396037,
        "sbp": -0.000012718741915884570,
        "town": -0.000093299642323272888,
    },
    age1_smoke=(-0.21011133933516346, 0.75268676447503191, 0.99315887556405791, 2.1331163414389076),
    age2_smoke=(-0.00049854870275326121, -0.00079875633317385414, -0.00083706184266251296, -0.00078400319155637289),
)


def imputation_values(male: bool) -> dict[str, float]:
    """The value each missing input takes under the documented policy, for one sex.

    BMI is the value whose first fractional-polynomial term equals the model's centring value, i.e. the
    derivation cohort's (transformed) mean: about 25.4 for women and 25.9 for men.
    """
    model = MALE if male else FEMALE
    return {
        "bmi": 10.0 / np.sqrt(model.centre["bmi_1"]),
        "rati": model.centre["rati"],
        "sbp": model.centre["sbp"],
        "sbps5": model.centre["sbps5"],
        "town": 0.0,
        "ethrisk": 0.0,
        "smoke_cat": 0.0,
    }


IMPUTABLE = ("bmi", "rati", "sbp", "sbps5", "town", "ethrisk", "smoke_cat")


def _linear_predictor(model: _SexModel, male: bool, v: dict[str, FloatArray]) -> FloatArray:
    dage = v["age"] / 10.0
    if male:
        age_1, age_2 = dage**-1, dage**3
    else:
        age_1, age_2 = dage**-2, dage
    dbmi = v["bmi"] / 10.0
    bmi_1 = dbmi**-2
    bmi_2 = dbmi**-2 * np.log(dbmi)
    c = model.centre
    cont = {
        "age_1": age_1 - c["age_1"],
        "age_2": age_2 - c["age_2"],
        "bmi_1": bmi_1 - c["bmi_1"],
        "bmi_2": bmi_2 - c["bmi_2"],
        "rati": v["rati"] - c["rati"],
        "sbp": v["sbp"] - c["sbp"],
        "sbps5": v["sbps5"] - c["sbps5"],
        "town": v["town"] - c["town"],
    }
    eth = np.asarray(model.ethrisk)[v["ethrisk"].astype(np.int64)]
    smoke_idx = v["smoke_cat"].astype(np.int64)
    a = eth + np.asarray(model.smoke)[smoke_idx]
    terms = {**cont, **{k: v[k] for k in BINARY_INPUTS}}
    for name, beta in model.main.items():
        if name in ("age_1", "age_2"):
            a = a + cont[name] * beta
        else:
            a = a + terms[name] * beta
    for name, beta in model.age1_x.items():
        a = a + cont["age_1"] * terms[name] * beta
    for name, beta in model.age2_x.items():
        a = a + cont["age_2"] * terms[name] * beta
    for level in range(1, 5):
        is_level = (smoke_idx == level).astype(np.float64)
        a = a + cont["age_1"] * is_level * model.age1_smoke[level - 1]
        a = a + cont["age_2"] * is_level * model.age2_smoke[level - 1]
    return a


def qrisk3_arrays(male: npt.ArrayLike, **inputs: npt.ArrayLike) -> tuple[FloatArray, dict[str, npt.NDArray[np.bool_]]]:
    """10-year QRISK3 percentage for many people at once, with the missing-input policy applied.

    `male` is a boolean array; `inputs` are arrays (or scalars) named as in the published algorithm; NaN marks a
    missing bmi, rati, sbp, sbps5, town, ethrisk or smoke_cat. Returns the scores and, per imputable input, a boolean
    array saying where it was imputed. Range checks are the caller's job (the store function clips and flags,
    `qrisk3` rejects).
    """
    is_male = np.asarray(male, dtype=bool)
    n = is_male.shape[0] if is_male.ndim else 1
    is_male = np.broadcast_to(is_male, (n,))
    v: dict[str, FloatArray] = {
        k: np.broadcast_to(np.asarray(inputs[k], dtype=np.float64), (n,)).copy()
        for k in ("age", *IMPUTABLE, *BINARY_INPUTS)
    }
    imputed: dict[str, npt.NDArray[np.bool_]] = {}
    fem, mal = imputation_values(False), imputation_values(True)
    for k in IMPUTABLE:
        missing = np.isnan(v[k])
        imputed[k] = missing
        if missing.any():
            v[k] = np.where(missing, np.where(is_male, mal[k], fem[k]), v[k])
    score = np.full(n, np.nan)
    for male_flag, model in ((False, FEMALE), (True, MALE)):
        sel = is_male == male_flag
        if sel.any():
            a = _linear_predictor(model, male_flag, {k: x[sel] for k, x in v.items()})
            score[sel] = 100.0 * (1.0 - model.survivor_10y ** np.exp(a))
    return score, imputed
