"""Case finding: people who have probably fallen through the gaps, with the evidence and the action that closes it.

Six searches, each a rule a clinician can check against the record (thresholds are module constants, sources cited):
- undiagnosed_hypertension: no active hypertension code; >= 2 clinic readings in 12 months with systolic >= 140 or
  >= 2 with diastolic >= 90 (NICE NG136: clinic BP >= 140/90 -> offer ambulatory monitoring to confirm).
- undiagnosed_diabetes: no active diabetes code; latest HbA1c in 24 months >= 48 mmol/mol (NICE NG28 / WHO 2011).
- af_not_anticoagulated: atrial fibrillation, CHA2DS2-VASc >= 2, no DOAC or warfarin issued in 6 months (NICE NG196).
- ckd_uncoded: no active CKD 3-5 code; eGFR < 60 on two occasions >= 90 days apart in 24 months and the latest < 60
  (KDIGO 2012 / NICE NG203 chronicity rule).
- high_qrisk_no_statin: QRISK3 >= 10% without established CVD and no statin issued in 12 months (NICE NG238), where
  systolic BP was measured and a lipid test exists in 5 years (a score resting only on imputed values is not evidence
  enough); imputed inputs are named in the evidence.
- frailty_no_care_plan: eFI moderate or severe and no care plan known (care plans live in the operational database:
  pass the ids of patients who have one; without them every moderate/severe patient is listed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import duckdb
import numpy as np
import pandas as pd

from carecommons.core.dates import months_back
from carecommons.risk import codes
from carecommons.risk._store import Feature, check_index_date, features, population, wide
from carecommons.risk.af import cha2ds2_vasc
from carecommons.risk.efi import frailty
from carecommons.risk.qrisk import qrisk3_for_store

SBP_RAISED, DBP_RAISED, RAISED_READINGS, BP_MONTHS = 140, 90, 2, 12
HBA1C_DIABETES, HBA1C_MONTHS = 48.0, 24
EGFR_CKD, EGFR_MONTHS, EGFR_CHRONIC_DAYS = 60.0, 24, 90
CHA2DS2_VASC_ANTICOAGULATE = 2
QRISK3_STATIN = 10.0

COLUMNS = ["patient_id", "finding", "evidence", "suggested_action"]

ACTIONS: dict[str, str] = {
    "undiagnosed_hypertension": "Offer ambulatory (or home) blood pressure monitoring to confirm; if confirmed, "
    "code hypertension and add to the register (NICE NG136)",
    "undiagnosed_diabetes": "Repeat HbA1c to confirm (unless symptomatic); if >= 48 mmol/mol again, code type 2 "
    "diabetes and add to the register (NICE NG28)",
    "af_not_anticoagulated": "Review stroke prevention: offer a DOAC unless contraindicated, and record the "
    "decision and bleeding risk (NICE NG196)",
    "ckd_uncoded": "Confirm CKD: check ACR, stage by eGFR and ACR, code the CKD stage and add to the register "
    "(NICE NG203)",
    "high_qrisk_no_statin": "Discuss lipid-lowering for primary prevention: check a full lipid profile, offer "
    "atorvastatin 20 mg after lifestyle advice; record the decision (NICE NG238)",
    "frailty_no_care_plan": "Clinical frailty review (confirm with a validated tool) and agree a personalised care "
    "and support plan; consider a structured medication review",
}


def _frame(patient_ids: Iterable[int], finding: str, evidence: Iterable[str]) -> pd.DataFrame:
    ids = list(patient_ids)
    return pd.DataFrame(
        {"patient_id": ids, "finding": finding, "evidence": list(evidence), "suggested_action": ACTIONS[finding]}
    )


def _measurements(con: duckdb.DuckDBPyConnection, d: dt.date, patient_ids: Sequence[int] | None) -> pd.DataFrame:
    """Per adult: raised BP reading counts, latest HbA1c, eGFR chronicity, and active diagnoses."""
    pop = population(con, d, min_age=18, patient_ids=patient_ids)
    s = codes.snomed
    wanted = [Feature(n, s(n).codes) for n in ("hyp", "hyp_res", "dm", "dm_res", "ckd", "ckd_res")]
    wanted += [Feature("hba1c", s("hba1c").codes, months=HBA1C_MONTHS)]
    long = features(con, d, wanted)
    stats = {f"{n}_last": f"{n}.last_date" for n in ("hyp", "hyp_res", "dm", "dm_res", "ckd", "ckd_res")}
    stats.update({"hba1c_value": "hba1c.last_value", "hba1c_date": "hba1c.last_date"})
    w = wide(long, pop["patient_id"], stats)
    readings = con.execute(
        """
        WITH codes AS (
          SELECT unnest($sys) AS code, 'sys' AS kind, $bp_start AS start_date
          UNION ALL SELECT unnest($dia), 'dia', $bp_start
          UNION ALL SELECT unnest($egfr), 'egfr', $egfr_start
        )
        SELECT e.patient_id,
               count(*) FILTER (WHERE kind = 'sys' AND e.value >= $sbp) AS sbp_raised,
               max(e.value) FILTER (WHERE kind = 'sys') AS sbp_max,
               count(*) FILTER (WHERE kind = 'dia' AND e.value >= $dbp) AS dbp_raised,
               max(e.value) FILTER (WHERE kind = 'dia') AS dbp_max,
               min(e.date) FILTER (WHERE kind = 'egfr' AND e.value < $egfr_cut) AS egfr_low_first,
               max(e.date) FILTER (WHERE kind = 'egfr' AND e.value < $egfr_cut) AS egfr_low_last,
               arg_max(e.value, (e.date, -e.value)) FILTER (WHERE kind = 'egfr' AND e.value IS NOT NULL) AS egfr_latest
        FROM events e
        JOIN codes c ON e.code = c.code
        JOIN _risk_population p ON e.patient_id = p.patient_id
        WHERE e.date <= $d AND e.date > c.start_date
        GROUP BY e.patient_id
        """,
        {
            "sys": sorted(s("sys_bp").codes),
            "dia": sorted(s("dia_bp").codes),
            "egfr": sorted(s("egfr").codes),
            "bp_start": months_back(d, BP_MONTHS),
            "egfr_start": months_back(d, EGFR_MONTHS),
            "sbp": SBP_RAISED,
            "dbp": DBP_RAISED,
            "egfr_cut": EGFR_CKD,
            "d": d,
        },
    ).df()
    return w.join(readings.set_index("patient_id"), how="left").reset_index()


def _active(w: pd.DataFrame, flag: str, resolved: str) -> pd.Series:
    last, res = w[f"{flag}_last"], w[f"{resolved}_last"]
    return last.notna() & (res.isna() | (last > res))


def find(
    con: duckdb.DuckDBPyConnection,
    index_date: dt.date | str,
    *,
    care_plan_patient_ids: Iterable[int] | None = None,
    patient_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """All six case-finding searches on the index date; one row per patient and finding (COLUMNS).

    `patient_ids` restricts every search to named patients (e.g. the record open in a consultation).
    """
    d = check_index_date(index_date)
    ids = None if patient_ids is None else list(patient_ids)
    w = _measurements(con, d, ids)
    out = []

    sbp_n = w["sbp_raised"].fillna(0)
    dbp_n = w["dbp_raised"].fillna(0)
    hyp = w[(~_active(w, "hyp", "hyp_res")) & ((sbp_n >= RAISED_READINGS) | (dbp_n >= RAISED_READINGS))]
    out.append(
        _frame(
            hyp["patient_id"],
            "undiagnosed_hypertension",
            (
                f"{int(s)} systolic >= {SBP_RAISED} and {int(di)} diastolic >= {DBP_RAISED} mmHg readings in "
                f"{BP_MONTHS} months (highest {mx:g}/{mxd:g} mmHg); no hypertension code"
                for s, di, mx, mxd in zip(
                    sbp_n[hyp.index], dbp_n[hyp.index], hyp["sbp_max"].fillna(0), hyp["dbp_max"].fillna(0), strict=True
                )
            ),
        )
    )

    dm = w[(~_active(w, "dm", "dm_res")) & (w["hba1c_value"] >= HBA1C_DIABETES)]
    out.append(
        _frame(
            dm["patient_id"],
            "undiagnosed_diabetes",
            (
                f"HbA1c {v:g} mmol/mol on {pd.Timestamp(t).date()} (>= {HBA1C_DIABETES:g}); no diabetes code"
                for v, t in zip(dm["hba1c_value"], dm["hba1c_date"], strict=True)
            ),
        )
    )

    span = (pd.to_datetime(w["egfr_low_last"]) - pd.to_datetime(w["egfr_low_first"])).dt.days
    ckd = w[(~_active(w, "ckd", "ckd_res")) & (span >= EGFR_CHRONIC_DAYS) & (w["egfr_latest"] < EGFR_CKD)]
    out.append(
        _frame(
            ckd["patient_id"],
            "ckd_uncoded",
            (
                f"eGFR < {EGFR_CKD:g} for {int(days)} days (latest {v:g}); no CKD stage 3-5 code"
                for days, v in zip(span[ckd.index], ckd["egfr_latest"], strict=True)
            ),
        )
    )

    af = cha2ds2_vasc(con, d, ids)
    af = af[(af["score"] >= CHA2DS2_VASC_ANTICOAGULATE) & ~af["on_anticoagulant"]]
    out.append(
        _frame(
            af["patient_id"],
            "af_not_anticoagulated",
            (f"atrial fibrillation, CHA2DS2-VASc {int(s)}; no anticoagulant issued in 6 months" for s in af["score"]),
        )
    )

    q = qrisk3_for_store(con, d, ids)
    measured = np.array(["sbp" not in imp for imp in q["imputed"]], dtype=bool) & q["lipids_measured"].to_numpy()
    q = q[(q["qrisk3"] >= QRISK3_STATIN) & ~q["on_statin"] & measured]
    out.append(
        _frame(
            q["patient_id"],
            "high_qrisk_no_statin",
            (
                f"QRISK3 {score:.1f}%" + (f" (imputed: {', '.join(imp)})" if imp else "") + "; no statin in 12 months"
                for score, imp in zip(q["qrisk3"], q["imputed"], strict=True)
            ),
        )
    )

    f = frailty(con, d, patient_ids=ids)
    f = f[f["category"].isin(["moderate", "severe"])]
    if care_plan_patient_ids is not None:
        f = f[~f["patient_id"].isin(np.fromiter(care_plan_patient_ids, dtype=np.int64))]
    known = "no care plan recorded" if care_plan_patient_ids is not None else "care plans not checked"
    out.append(
        _frame(
            f["patient_id"],
            "frailty_no_care_plan",
            (f"eFI {e:.2f} ({c} frailty); {known}" for e, c in zip(f["efi"], f["category"], strict=True)),
        )
    )
    result = pd.concat([o for o in out if len(o)], ignore_index=True) if any(len(o) for o in out) else None
    if result is None:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "patient_id" else object) for c in COLUMNS})
    return result.sort_values(["patient_id", "finding"], ignore_index=True)[COLUMNS]
