"""Coded histories for one practice: registers, readings, flags, frailty deficits, medicines, flu vaccines,
consultations. Column-wise: each kind of record is drawn for all patients at once.

Register membership follows plan.py's prevalence model. On purpose some people are *not* coded although their
readings say they should be (raised BP without hypertension code, HbA1c >= 48 without diabetes code) and some AF
patients have no anticoagulant, so case-finding definitions have something to find. Those people are extra to
the register targets, so registered prevalence still matches QOF.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from carecommons.synth.codes import EFI_DEFICITS, CodePick, codebook
from carecommons.synth.config import OPT_OUT_RATE
from carecommons.synth.medicines import DOAC_PROBS, DOACS, STATIN_PROBS, STATINS
from carecommons.synth.people import People, history_start, to_days
from carecommons.synth.plan import Plan, PracticeSpec, age_risk, obesity_age_risk

#: UCUM units (index used in event arrays; -1 = no unit).
UNITS = ("mm[Hg]", "mmol/mol", "mmol/L", "kg/m2", "mL/min/{1.73_m2}")
U_MMHG, U_MMOLMOL, U_MMOLL, U_KGM2, U_EGFR = range(5)
KIND_CONDITION, KIND_OBSERVATION = 0, 1

UNDIAGNOSED_HYP_SHARE = 0.25  # extra people with raised BP and no HYP code, as a share of the HYP register
UNDIAGNOSED_DM_SHARE = 0.10  # extra people with HbA1c >= 48 and no DM code, as a share of the DM register
DOAC_COVERAGE = 0.85  # AF patients prescribed an anticoagulant
TYPE1_SHARE_OF_DM = 0.08
TRANSFERRED_SHARE = 0.4  # records carrying history from earlier practices (modelling choice)

#: Encounter classes (HL7 v3 ActCode, as FHIR Encounter.class.code and encounters.csv encounter_type).
ENCOUNTER_CLASSES = ("AMB", "VR", "HH")


@dataclass
class Rows:
    """Accumulates one table's columns from many draws; `take` appends a block."""

    cols: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def take(self, **arrays: np.ndarray) -> None:
        for k, v in arrays.items():
            self.cols.setdefault(k, []).append(v)

    def build(self, dtypes: dict[str, type]) -> dict[str, np.ndarray]:
        return {
            k: (np.concatenate(self.cols[k]) if k in self.cols else np.empty(0, dtype=t)).astype(t, copy=False)
            for k, t in dtypes.items()
        }


EVENT_DTYPES = {"p": np.int32, "code": np.int64, "date": np.int32, "value": np.float64, "unit": np.int8,
                "kind": np.int8}  # fmt: skip
MED_DTYPES = {"p": np.int32, "code": np.int64, "date": np.int32}
VAC_DTYPES = {"p": np.int32, "code": np.int64, "date": np.int32}
ENC_DTYPES = {"p": np.int32, "date": np.int32, "cls": np.int8}


@dataclass
class Clinical:
    events: dict[str, np.ndarray]
    medications: dict[str, np.ndarray]
    vaccinations: dict[str, np.ndarray]
    encounters: dict[str, np.ndarray]
    registers: dict[str, np.ndarray]  # group -> bool per patient (coded on the register)
    care_home: np.ndarray
    housebound: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _codes(pick: CodePick, rng: np.random.Generator, n: int) -> np.ndarray:
    return pick.draw(rng, n).astype(np.int64)


def _uniform_dates(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    span = np.maximum(hi - lo, 0)
    return (lo + (rng.random(len(lo)) * (span + 1)).astype(np.int32)).astype(np.int32)


def _repeat_counts(rng: np.random.Generator, rate_per_year: np.ndarray, years: np.ndarray) -> np.ndarray:
    return rng.poisson(np.maximum(rate_per_year, 0.0) * np.maximum(years, 0.0))


def make_clinical(spec: PracticeSpec, plan: Plan, people: People, rng: np.random.Generator) -> Clinical:
    cb = codebook()
    n = len(people)
    e = to_days(plan.extract_date)
    h = history_start(plan.extract_date)
    age = people.age.astype(np.float64)
    end = people.window_end
    # Records move with patients (GP2GP): for most, history from earlier practices is in this extract too; the rest
    # (new to the NHS, or records not transferred) start at registration here.
    transferred = rng.random(n) < TRANSFERRED_SHARE
    w0 = np.maximum(np.where(transferred, h, np.maximum(people.reg_start, h)), people.dob).astype(np.int32)
    years = np.maximum(end - w0, 0) / 365.25
    ev, meds, vacs, encs = Rows(), Rows(), Rows(), Rows()

    # --- registers -----------------------------------------------------------------------------------------------
    prevalence = plan.prevalence[spec.borough]
    z = plan.normaliser[spec.borough]
    imd_idx = people.imd.astype(np.int64) - 1
    on: dict[str, np.ndarray] = {}
    diag_date: dict[str, np.ndarray] = {}
    all_groups = [*cb.registers, "OB"]
    for group in all_groups:
        reg = cb.registers.get(group)
        g = plan.imd_gradient.get(group, np.ones(10))[imd_idx]
        r = obesity_age_risk(people.age) if reg is None else age_risk(reg, people.age)
        p = np.clip(prevalence.get(group, 0.0) * g * r / max(z[group], 1e-9), 0.0, 0.95)
        on[group] = rng.random(n) < p
        # Diagnosed some time in the past: earliest at the register's minimum age, at most 25 years ago.
        lo = np.maximum(people.dob + int(365.25 * (reg.min_age if reg else 18)), e - 25 * 365)
        diag_date[group] = _uniform_dates(rng, lo, end)
    for group, reg in cb.registers.items():
        sel = np.flatnonzero(on[group])
        if group == "DM":
            type1 = rng.random(len(sel)) < np.where(people.age[sel] < 30, 0.6, TYPE1_SHARE_OF_DM)
            codes = np.where(type1, _codes(cb.dm_type1, rng, len(sel)), _codes(cb.dm_type2, rng, len(sel)))
        else:
            codes = _codes(reg.pick, rng, len(sel))
        ev.take(p=sel, code=codes, date=diag_date[group][sel], value=np.full(len(sel), np.nan),
                unit=np.full(len(sel), -1), kind=np.full(len(sel), KIND_CONDITION))  # fmt: skip
    adult = people.age >= 18
    undiag_hyp = ~on["HYP"] & adult & (rng.random(n) < UNDIAGNOSED_HYP_SHARE * on["HYP"].mean() * 1.0)
    undiag_dm = ~on["DM"] & (people.age >= 30) & (rng.random(n) < UNDIAGNOSED_DM_SHARE * on["DM"].mean())
    cardio = on["CHD"] | on["STIA"] | on["PAD"]

    # --- blood pressure (systolic + diastolic pairs) -------------------------------------------------------------
    bp_rate = np.where(adult, 0.25, 0.02) + np.where(age >= 40, 0.35, 0.0)
    bp_rate = np.maximum(bp_rate, np.where(on["HYP"] | on["DM"], 2.0, 0.0))
    bp_rate = np.maximum(bp_rate, np.where(cardio | on["CKD"] | undiag_hyp, 1.2, 0.0))
    k = _repeat_counts(rng, bp_rate, years)
    idx = np.repeat(np.arange(n, dtype=np.int32), k)
    mu = np.where(on["HYP"], 138.0, np.where(undiag_hyp, 152.0, 112.0 + 0.45 * np.maximum(age - 25, 0)))
    mu = mu + rng.normal(0, 8.0, n)
    sys_v = np.clip(np.round(mu[idx] + rng.normal(0, 9.0, len(idx))), 80, 230)
    dia_v = np.clip(np.round(0.42 * sys_v + rng.normal(25.0, 7.0, len(idx))), 40, 130)
    d = _uniform_dates(rng, w0[idx], end[idx])
    m = len(idx)
    ev.take(p=idx, code=_codes(cb.sys_bp, rng, m), date=d, value=sys_v, unit=np.full(m, U_MMHG),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip
    ev.take(p=idx, code=_codes(cb.dia_bp, rng, m), date=d, value=dia_v, unit=np.full(m, U_MMHG),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip
    # Undiagnosed hypertension: make sure a raised reading sits in the last two years.
    sel = np.flatnonzero(undiag_hyp)
    m = len(sel)
    d = _uniform_dates(rng, np.maximum(end[sel] - 730, w0[sel]), end[sel])
    sv = np.round(rng.uniform(145, 175, m))
    ev.take(p=sel, code=_codes(cb.sys_bp, rng, m), date=d, value=sv, unit=np.full(m, U_MMHG),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip
    ev.take(p=sel, code=_codes(cb.dia_bp, rng, m), date=d, value=np.round(rng.uniform(88, 105, m)),
            unit=np.full(m, U_MMHG), kind=np.full(m, KIND_OBSERVATION))  # fmt: skip

    # --- HbA1c (IFCC, mmol/mol) ----------------------------------------------------------------------------------
    rate = np.where(on["DM"], 2.0, np.where(age >= 40, 0.2, 0.0))
    k = _repeat_counts(rng, rate, years)
    idx = np.repeat(np.arange(n, dtype=np.int32), k)
    mu = np.where(on["DM"], rng.normal(58.0, 11.0, n), rng.normal(37.0, 3.5, n))
    val = np.where(on["DM"][idx], np.clip(mu[idx] + rng.normal(0, 5, len(idx)), 40, 130),
                   np.clip(mu[idx] + rng.normal(0, 2, len(idx)), 25, 47))  # fmt: skip
    m = len(idx)
    ev.take(p=idx, code=_codes(cb.hba1c, rng, m), date=_uniform_dates(rng, w0[idx], end[idx]),
            value=np.round(val), unit=np.full(m, U_MMOLMOL), kind=np.full(m, KIND_OBSERVATION))  # fmt: skip
    sel = np.flatnonzero(undiag_dm)
    m = len(sel)
    ev.take(p=sel, code=_codes(cb.hba1c, rng, m), date=_uniform_dates(rng, np.maximum(end[sel] - 730, w0[sel]),
            end[sel]), value=np.round(rng.uniform(48, 70, m)), unit=np.full(m, U_MMOLMOL),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip

    # --- statins (dm+d), cholesterol ------------------------------------------------------------------------------
    statin_p = np.where(cardio, 0.8, np.where(on["DM"] & (age >= 40), 0.65, np.where(on["HYP"], 0.3, 0.0)))
    statin_p = np.maximum(statin_p, np.where(age >= 50, 0.05, 0.0))
    on_statin = rng.random(n) < statin_p
    rate = np.where(cardio | on["DM"] | on["HYP"], 1.0, np.where(age >= 40, 0.25, 0.0))
    k = _repeat_counts(rng, rate, years)
    idx = np.repeat(np.arange(n, dtype=np.int32), k)
    mu = np.where(on_statin, rng.normal(4.1, 0.7, n), rng.normal(5.2, 0.9, n))
    m = len(idx)
    ev.take(p=idx, code=_codes(cb.cholesterol, rng, m), date=_uniform_dates(rng, w0[idx], end[idx]),
            value=np.round(np.clip(mu[idx] + rng.normal(0, 0.4, m), 2.0, 11.0), 1), unit=np.full(m, U_MMOLL),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip
    _repeat_prescriptions(rng, meds, on_statin, STATINS, STATIN_PROBS, diag_date, w0, end, e)
    af = on["AF"] & (rng.random(n) < DOAC_COVERAGE)
    _repeat_prescriptions(rng, meds, af, DOACS, DOAC_PROBS, {"x": diag_date["AF"]}, w0, end, e)

    # --- BMI (obesity register: latest BMI >= 30 in the last 12 months, adults) ---------------------------------
    obese = on["OB"]
    rate = np.where(adult, 0.3, 0.0) + np.where(on["DM"] | on["HYP"], 0.7, 0.0)
    k = _repeat_counts(rng, rate, years)
    idx = np.repeat(np.arange(n, dtype=np.int32), k)
    m = len(idx)
    val = np.where(obese[idx], rng.normal(33.5, 3.5, m), rng.normal(25.5, 3.0, m))
    val = np.where(obese[idx], np.clip(val, 30.0, 60.0), np.clip(val, 16.0, 29.9))
    ev.take(p=idx, code=_codes(cb.bmi, rng, m), date=_uniform_dates(rng, w0[idx], end[idx]), value=np.round(val, 1),
            unit=np.full(m, U_KGM2), kind=np.full(m, KIND_OBSERVATION))  # fmt: skip
    recent = adult & (obese | (rng.random(n) < 0.35))  # everyone obese has a reading in the last 12 months
    sel = np.flatnonzero(recent)
    m = len(sel)
    val = np.where(obese[sel], np.clip(rng.normal(33.5, 3.5, m), 30.0, 60.0), np.clip(rng.normal(25.5, 3, m), 16, 29.9))
    ev.take(p=sel, code=_codes(cb.bmi, rng, m), date=_uniform_dates(rng, np.maximum(end[sel] - 360, w0[sel]), end[sel]),
            value=np.round(val, 1), unit=np.full(m, U_KGM2), kind=np.full(m, KIND_OBSERVATION))  # fmt: skip

    # --- eGFR ---------------------------------------------------------------------------------------------------
    rate = np.where(on["CKD"], 2.0, np.where(on["DM"] | on["HYP"], 1.0, np.where(age >= 65, 0.3, 0.0)))
    k = _repeat_counts(rng, rate, years)
    idx = np.repeat(np.arange(n, dtype=np.int32), k)
    m = len(idx)
    mu = np.where(on["CKD"], rng.uniform(25, 58, n), np.clip(115 - 0.8 * age + rng.normal(0, 10, n), 60, 120))
    ev.take(p=idx, code=_codes(cb.egfr, rng, m), date=_uniform_dates(rng, w0[idx], end[idx]),
            value=np.round(np.clip(mu[idx] + rng.normal(0, 4, m), 5, 140)), unit=np.full(m, U_EGFR),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip

    # --- smoking status ----------------------------------------------------------------------------------------
    sel = np.flatnonzero(people.age >= 16)
    u = rng.random(len(sel))
    copd = on["COPD"][sel]
    current = np.where(copd, u < 0.4, u < 0.13)
    ex = ~current & np.where(copd, u < 0.95, u < 0.38)
    codes = np.where(current, _codes(cb.smoke_current, rng, len(sel)),
                     np.where(ex, _codes(cb.smoke_ex, rng, len(sel)), _codes(cb.smoke_never, rng, len(sel))))  # fmt: skip
    _flag(ev, sel, codes, _uniform_dates(rng, w0[sel], end[sel]))

    # --- social flags, opt-out ---------------------------------------------------------------------------------
    care_home = (age >= 65) & (rng.random(n) < 0.05 * _sigmoid((age - 86) / 4) + np.where(on["DEM"], 0.15, 0))
    housebound = ~care_home & (age >= 65) & (rng.random(n) < 0.12 * _sigmoid((age - 84) / 5))
    carer = (age >= 18) & (age <= 85) & (rng.random(n) < 0.02 + 0.04 * _sigmoid((age - 50) / 8))
    recent_lo = np.maximum(end - 3 * 365, w0)
    for mask, pick in ((care_home, cb.care_home), (housebound, cb.housebound), (carer, cb.carer)):
        sel = np.flatnonzero(mask)
        _flag(ev, sel, _codes(pick, rng, len(sel)), _uniform_dates(rng, recent_lo[sel], end[sel]))
    sel = np.flatnonzero(rng.random(n) < OPT_OUT_RATE)
    _flag(ev, sel, np.full(len(sel), int(cb.opt_out), dtype=np.int64), _uniform_dates(rng, w0[sel], end[sel]))

    # --- eFI deficits that are not registers: more frequent with age (frailty is computed from these) -----------
    frail = np.where(age >= 50, _sigmoid((age - 80) / 6.0), 0.0)
    skip = {
        "atrial-fibrillation",
        "chd",
        "ckd",
        "diabetes",
        "heart-failure",
        "hypertension",
        "stroke-tia",
        "housebound",
        "care-requirement",
    }  # fmt: skip  (coded via registers and flags above)
    for deficit in EFI_DEFICITS:
        if deficit in skip:
            continue
        sel = np.flatnonzero(rng.random(n) < 0.03 + 0.22 * frail * (age >= 50))
        sel = sel[age[sel] >= 40]
        ev.take(p=sel, code=_codes(cb.efi[deficit], rng, len(sel)), date=_uniform_dates(rng, w0[sel], end[sel]),
                value=np.full(len(sel), np.nan), unit=np.full(len(sel), -1),
                kind=np.full(len(sel), KIND_CONDITION))  # fmt: skip

    # --- flu vaccinations (one per season when eligible and taken up) -------------------------------------------
    year_e = plan.extract_date.year
    chronic = on["DM"] | on["CHD"] | on["COPD"] | on["AST"] | on["CKD"] | on["STIA"] | on["HF"]
    for season in range(year_e - 10, year_e + 1):
        sep1 = to_days(dt.date(season, 9, 1))
        age_then = age - (e - sep1) / 365.25
        eligible = (age_then >= 65) | chronic | ((age_then >= 2) & (age_then < 11))
        p = np.where(eligible, np.where(age_then >= 65, 0.7, 0.45), 0.04)
        date = sep1 + (rng.random(n) * 120).astype(np.int32)
        took = (rng.random(n) < p) & (date >= w0) & (date <= end) & (age_then >= 0.5)
        sel = np.flatnonzero(took)
        m = len(sel)
        sct = rng.random(m) < 0.3
        codes = np.where(sct, _codes(cb.flu_given_sct, rng, m), _codes(cb.flu_vaccine_dmd, rng, m))
        vacs.take(p=sel, code=codes, date=date[sel])

    # --- consultations --------------------------------------------------------------------------------------------
    n_regs = sum(on[g].astype(np.int32) for g in cb.registers)
    # Contacts of every kind (GP, nurse, pharmacist, telephone), per year by age: a modelling choice near the
    # 5-6 contacts a year reported for English general practice, higher for the very young and the old.
    rate = np.select([age < 5, age < 18, age < 45, age < 65, age < 80], [7.0, 2.5, 4.0, 5.5, 9.0], 12.0)
    rate = rate + np.where(people.sex == "F", 0.8, 0.0) * (age >= 16) + 1.5 * n_regs
    k = _repeat_counts(rng, rate, years)
    idx = np.repeat(np.arange(n, dtype=np.int32), k)
    m = len(idx)
    home = (care_home | housebound)[idx]
    u = rng.random(m)
    cls = np.where(home & (u < 0.6), 2, np.where(u < 0.3, 1, 0)).astype(np.int8)
    encs.take(p=idx, date=_uniform_dates(rng, w0[idx], end[idx]), cls=cls)

    return Clinical(
        events=ev.build(EVENT_DTYPES),
        medications=meds.build(MED_DTYPES),
        vaccinations=vacs.build(VAC_DTYPES),
        encounters=encs.build(ENC_DTYPES),
        registers={g: on[g] for g in cb.registers},
        care_home=care_home,
        housebound=housebound,
    )


def _flag(ev: Rows, sel: np.ndarray, codes: np.ndarray, dates: np.ndarray) -> None:
    m = len(sel)
    ev.take(p=sel, code=codes, date=dates, value=np.full(m, np.nan), unit=np.full(m, -1),
            kind=np.full(m, KIND_OBSERVATION))  # fmt: skip


def _repeat_prescriptions(
    rng: np.random.Generator,
    meds: Rows,
    mask: np.ndarray,
    codes: tuple[str, ...],
    probs: tuple[float, ...],
    diag_date: dict[str, np.ndarray],
    w0: np.ndarray,
    end: np.ndarray,
    e: int,
) -> None:
    """Every 28 days from the later of treatment start and two years before the extract, until the record ends."""
    sel = np.flatnonzero(mask)
    if not len(sel):
        return
    start_any = np.min(np.stack(list(diag_date.values())), axis=0)[sel]
    first = np.maximum(np.maximum(start_any, w0[sel]), e - 730) + rng.integers(0, 28, len(sel))
    count = np.maximum((end[sel] - first) // 28 + 1, 0)
    idx = np.repeat(sel.astype(np.int32), count)
    offsets = np.arange(len(idx)) - np.repeat(np.cumsum(count) - count, count)
    dates = np.repeat(first, count) + 28 * offsets
    drug = rng.choice(np.array(codes, dtype=np.int64), size=len(sel), p=np.array(probs))
    meds.take(p=idx, code=np.repeat(drug, count), date=dates.astype(np.int32))
