"""The plan of a synthetic run: which practices, how many patients each, their age and deprivation mix, and the
per-borough constants that make register prevalence match the QOF reference figures.

Everything here is small (one row per practice) and computed before any patient is drawn, so workers can generate
practices independently and still add up to the borough and London targets.

Prevalence model (per register R, patient i in borough b, age a, IMD decile d, eligible for R's QOF denominator):
    p_i = P[b,R] * g[R,d] * r[R,a] / Z[b,R]
P[b,R] is the borough's QOF 2019/20 prevalence (output_lad_prevalence.csv, register / age-eligible list, i.e. the
QOF way), g[R,d] the London IMD gradient (output_imd_region_prevalence.csv London rows divided by the London
figure), r[R,a] an age-risk curve (codes.Register; logistic, a modelling choice), and Z[b,R] the expected value of
g*r over the borough's eligible patients, computed exactly from the planned age and IMD mixes, so the expected
register / eligible list in each borough equals P[b,R].
"""

from __future__ import annotations

import datetime as dt
import numbers
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from carecommons.core.errors import InvalidInput
from carecommons.reference.organisations import REF_DIR, borough_lsoas, london_practices
from carecommons.synth.codes import Register, codebook
from carecommons.synth.config import (
    DEATH_LOG_HAZARD,
    LEFT_RATE_BASE,
    LEFT_RATE_YOUNG_ADULT,
    LONDON_PATIENTS,
    MAX_PATIENTS,
    MIN_PATIENTS_PER_PRACTICE,
)

MAX_AGE = 104
AGES = np.arange(MAX_AGE + 1)
#: Share of 65+ who are 75+ (London, approximate; modelling choice used to split the 65OV band).
SHARE_75_OF_65 = 0.45


def age_risk(reg: Register, ages: np.ndarray) -> np.ndarray:
    """Relative risk of being on register `reg` by age (0 below the QOF denominator's minimum age)."""
    if reg.age_mid is None:
        r = np.ones(ages.shape, dtype=float)
        if reg.group in ("DEP", "MH"):  # adult conditions; fewer children on these registers
            r = np.where(ages < 16, 0.05, 1.0)
    else:
        r = 1.0 / (1.0 + np.exp(-(ages - reg.age_mid) / reg.age_width))
    return np.where(ages >= reg.min_age, r, 0.0)


def current_share(ages: np.ndarray) -> np.ndarray:
    """Expected share of records of each age still registered and alive on the extract date (people.py draws
    deaths and leavers with these rates); normalisers use it so prevalence matches among current patients."""
    a, b = DEATH_LOG_HAZARD
    alive = np.exp(-3.0 * np.exp(a + b * ages.astype(np.float64)))
    stay = 1.0 - np.where((ages >= 18) & (ages <= 35), LEFT_RATE_YOUNG_ADULT, LEFT_RATE_BASE)
    return alive * stay


def obesity_age_risk(ages: np.ndarray) -> np.ndarray:
    """Relative risk of a BMI >= 30 by age (adults only; rises through middle age). Modelling choice."""
    a = ages.astype(np.float64)
    return np.where(ages >= 18, 1.0 / (1.0 + np.exp(-(a - 45.0) / 15.0)) + 0.3, 0.0)


@lru_cache(maxsize=1)
def _age_tables() -> tuple[pd.DataFrame, pd.Series]:
    by_age = pd.read_csv(REF_DIR / "gp-by-age.csv", dtype={"PRACTICE_CODE": str}).set_index("PRACTICE_CODE")
    demo = pd.read_csv(REF_DIR / "gp_demographics.csv", dtype={"PRACTICE_CODE": str}).set_index("PRACTICE_CODE")
    return by_age, demo["Percent_male"]


def _band_pmf(row: pd.Series) -> np.ndarray | None:
    """Single-year age pmf from the practice's cumulative age-band counts (gp-by-age.csv)."""
    total = float(row["TOTAL"])
    if not total > 0:
        return None
    o16, o17, o18 = float(row["16OV"]), float(row["17OV"]), float(row["18OV"])
    b30_74, o50, o65 = float(row["30_74"]), float(row["50OV"]), float(row["65OV"])
    b75 = o65 * SHARE_75_OF_65
    b65_74 = o65 - b75
    b50_64 = o50 - o65
    bands = [
        (0, 15, total - o16),
        (16, 16, o16 - o17),
        (17, 17, o17 - o18),
        (18, 29, o18 - b30_74 - b75),
        (30, 49, b30_74 - b50_64 - b65_74),
        (50, 64, b50_64),
        (65, 74, b65_74),
    ]
    pmf = np.zeros(MAX_AGE + 1)
    for lo, hi, count in bands:
        pmf[lo : hi + 1] += max(count, 0.0) / (hi - lo + 1)
    tail = np.exp(-(AGES[75:] - 75) / 7.0)
    pmf[75:] += max(b75, 0.0) * tail / tail.sum()
    s = pmf.sum()
    return pmf / s if s > 0 else None


def _london_pmf(by_age: pd.DataFrame, london: set[str]) -> np.ndarray:
    rows = by_age[by_age.index.isin(london)].sum(numeric_only=True)
    pmf = _band_pmf(rows)
    assert pmf is not None
    return pmf


@dataclass(frozen=True)
class PracticeSpec:
    """What a worker needs to generate one practice (picklable, no patient data)."""

    index: int  # position in the plan (also the RNG stream id)
    practice_id: str
    postcode: str
    borough: str
    icb: str
    n_patients: int
    first_patient: int  # global index of the practice's first patient (ids and NHS numbers derive from it)
    age_pmf: np.ndarray
    male_share: float
    imd_centre: int


@dataclass(frozen=True)
class Plan:
    seed: int
    patients: int
    extract_date: dt.date
    practices: tuple[PracticeSpec, ...]
    practices_table: pd.DataFrame  # core.schema.PRACTICES columns, selected practices only
    prevalence: dict[str, dict[str, float]]  # borough -> group -> target prevalence (fraction, QOF way)
    normaliser: dict[str, dict[str, float]]  # borough -> group -> Z
    imd_gradient: dict[str, np.ndarray] = field(default_factory=dict)  # group -> g[d] for d = 1..10 (index 0..9)
    subset: bool = False  # True when only some practices were used (small --patients)


@lru_cache(maxsize=1)
def target_prevalence() -> dict[str, dict[str, float]]:
    """Borough -> QOF group -> prevalence (register / age-eligible list), from output_lad_prevalence.csv."""
    df = pd.read_csv(REF_DIR / "output_lad_prevalence.csv")
    boroughs = set(london_practices()["borough"])
    df = df[df["lad_name"].isin(boroughs)]
    out: dict[str, dict[str, float]] = {}
    for row in df.itertuples(index=False):
        out.setdefault(str(row.lad_name), {})[str(row.group_code)] = float(row.prevalence)
    return out


@lru_cache(maxsize=1)
def imd_gradient() -> dict[str, np.ndarray]:
    """QOF group -> relative prevalence by IMD decile 1..10 in London (1.0 = London average)."""
    imd = pd.read_csv(REF_DIR / "output_imd_region_prevalence.csv")
    imd = imd[imd["region"] == "London"]
    out = {}
    for group, frame in imd.groupby("group_code"):
        frame = frame.sort_values("imd_overall")
        overall = frame["register"].sum() / frame["list"].sum()
        g = np.ones(10)
        g[frame["imd_overall"].to_numpy(dtype=int) - 1] = frame["prevalence"].to_numpy() / overall
        out[str(group)] = g
    return out


def lsoa_weights(borough_imd: np.ndarray, centre: int) -> np.ndarray:
    """Probability of each of a borough's LSOAs for a practice whose catchment centres on IMD decile `centre`:
    practices serve neighbourhoods of similar deprivation, with 30% spread over the whole borough."""
    near = np.exp(-np.abs(borough_imd - centre) / 1.2)
    w = 0.7 * near / near.sum() + 0.3 / len(borough_imd)
    return w / w.sum()


def _largest_remainder(weights: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    base = np.full(len(w), minimum, dtype=np.int64)
    rest = total - base.sum()
    if rest < 0:
        raise InvalidInput("patients", f"{total} is too few for {len(w)} groups", f"use at least {base.sum()}")
    exact = w / w.sum() * rest
    floor = np.floor(exact).astype(np.int64)
    short = rest - floor.sum()
    order = np.argsort(-(exact - floor), kind="stable")
    floor[order[:short]] += 1
    return base + floor


def make_plan(patients: int, seed: int, extract_date: dt.date) -> Plan:
    """Choose practices and patient counts for `patients` records in total, deterministic under `seed`."""
    if isinstance(patients, bool) or not isinstance(patients, numbers.Integral) or not 1000 <= patients <= MAX_PATIENTS:
        raise InvalidInput(
            "patients",
            f"{patients!r} is outside the supported range",
            f"give a whole number from 1000 to {MAX_PATIENTS:,} (London is about {LONDON_PATIENTS:,})",
        )
    patients = int(patients)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA11]))
    practices = london_practices()
    boroughs = sorted(practices["borough"].unique())
    k = min(len(practices), max(len(boroughs), patients // MIN_PATIENTS_PER_PRACTICE))
    subset = k < len(practices)
    borough_lists = practices.groupby("borough")["list_size"].sum().reindex(boroughs).to_numpy(dtype=float)
    if subset:
        per_borough = _largest_remainder(borough_lists, k, minimum=1)
        chosen = []
        for b, kb in zip(boroughs, per_borough, strict=True):
            frame = practices[practices["borough"] == b]
            kb = min(int(kb), len(frame))
            p = frame["list_size"].to_numpy(dtype=float)
            idx = rng.choice(len(frame), size=kb, replace=False, p=p / p.sum())
            chosen.append(frame.iloc[np.sort(idx)])
        selected = pd.concat(chosen).sort_values("practice_id", ignore_index=True)
    else:
        selected = practices.copy()
    # Patients per borough follow London's list shares; within a borough, the selected practices' list sizes.
    n_borough = _largest_remainder(borough_lists, patients, minimum=0)
    counts = np.zeros(len(selected), dtype=np.int64)
    for b, nb in zip(boroughs, n_borough, strict=True):
        rows = np.flatnonzero(selected["borough"].to_numpy() == b)
        counts[rows] = _largest_remainder(selected["list_size"].to_numpy()[rows], int(nb))
    by_age, male = _age_tables()
    london_pmf: np.ndarray | None = None
    lsoas = borough_lsoas()
    imd_by_borough = {b: f["imd_decile"].to_numpy() for b, f in lsoas.groupby("borough")}
    specs = []
    first = 0
    for i, row in enumerate(selected.itertuples(index=False)):
        pmf = _band_pmf(by_age.loc[row.practice_id]) if row.practice_id in by_age.index else None
        if pmf is None:  # no age profile published for this practice: use London's
            if london_pmf is None:
                london_pmf = _london_pmf(by_age, set(practices["practice_id"]))
            pmf = london_pmf
        centre_rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0DE, i]))
        borough_imd = imd_by_borough[row.borough]
        specs.append(
            PracticeSpec(
                index=i,
                practice_id=row.practice_id,
                postcode=str(row.postcode),
                borough=row.borough,
                icb=row.icb,
                n_patients=int(counts[i]),
                first_patient=first,
                age_pmf=pmf,
                male_share=float(male.get(row.practice_id, 0.502)) if pd.notna(male.get(row.practice_id)) else 0.502,
                imd_centre=int(borough_imd[centre_rng.integers(len(borough_imd))]),
            )
        )
        first += int(counts[i])
    specs = [s for s in specs if s.n_patients > 0]
    prevalence = target_prevalence()
    gradient = imd_gradient()
    normaliser = _normalisers(specs, imd_by_borough, gradient)
    table = selected[selected["practice_id"].isin({s.practice_id for s in specs})].reset_index(drop=True)
    return Plan(
        seed=seed,
        patients=patients,
        extract_date=extract_date,
        practices=tuple(specs),
        practices_table=table,
        prevalence=prevalence,
        normaliser=normaliser,
        imd_gradient=gradient,
        subset=subset,
    )


def _normalisers(
    specs: list[PracticeSpec], imd_by_borough: dict[str, np.ndarray], gradient: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Z[b,R] = E[g(d) r(a) | eligible] over the borough's planned patients (age and IMD independent per practice)."""
    regs = codebook().registers
    survive = current_share(AGES)
    num: dict[tuple[str, str], float] = {}
    den: dict[tuple[str, str], float] = {}
    for s in specs:
        imd = imd_by_borough[s.borough]
        w = lsoa_weights(imd, s.imd_centre)
        imd_pmf = np.bincount(imd - 1, weights=w, minlength=10)
        risks = {group: (age_risk(reg, AGES), reg.min_age) for group, reg in regs.items()}
        risks["OB"] = (obesity_age_risk(AGES), 18)
        for group, (risk, min_age) in risks.items():
            g = gradient.get(group, np.ones(10))
            current = s.age_pmf * survive
            eligible = current * (AGES >= min_age)
            key = (s.borough, group)
            num[key] = num.get(key, 0.0) + s.n_patients * float((current * risk).sum() * (imd_pmf * g).sum())
            den[key] = den.get(key, 0.0) + s.n_patients * float(eligible.sum())
    out: dict[str, dict[str, float]] = {}
    for (b, group), v in num.items():
        out.setdefault(b, {})[group] = v / den[(b, group)] if den[(b, group)] > 0 else 1.0
    return out
