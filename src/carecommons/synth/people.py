"""Demographics and registrations of one practice's patients, column-wise (one numpy array per field).

Dates are int32 days since 1970-01-01 throughout synth; writers turn them into ISO dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from carecommons.reference.organisations import borough_lsoas
from carecommons.synth.config import (
    DEATH_LOG_HAZARD,
    HISTORY_YEARS,
    LEFT_RATE_BASE,
    LEFT_RATE_YOUNG_ADULT,
    REG_MEAN_YEARS,
)
from carecommons.synth.ethnicity import GROUP6_OF_16, borough_shares, ethnicity_codes
from carecommons.synth.names import draw_names
from carecommons.synth.nhs import nhs_numbers
from carecommons.synth.plan import AGES, PracticeSpec, lsoa_weights
from carecommons.synth.writers import NO_DATE

EPOCH = dt.date(1970, 1, 1)
_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # letters used in the inward part of UK postcodes


def to_days(d: dt.date) -> int:
    return (d - EPOCH).days


@lru_cache(maxsize=64)
def _borough_lsoa_arrays(borough: str) -> tuple[np.ndarray, np.ndarray]:
    f = borough_lsoas()
    f = f[f["borough"] == borough]
    return f["lsoa"].to_numpy(dtype=str), f["imd_decile"].to_numpy(dtype=np.int8)


@dataclass
class People:
    """One practice's patients; every array has one element per patient."""

    patient_id: np.ndarray  # int64
    nhs_number: np.ndarray  # int64 (10 digits)
    given: np.ndarray  # object (str)
    family: np.ndarray
    sex: np.ndarray  # '<U1' F/M/U
    dob: np.ndarray  # int32 days
    age: np.ndarray  # int16 age at the extract date (or at death)
    postcode: np.ndarray
    lsoa: np.ndarray
    imd: np.ndarray  # int8 1..10
    eth16: np.ndarray  # int8 0..15
    eth_code: np.ndarray  # int64 SNOMED CT
    reg_start: np.ndarray  # int32 days
    reg_end: np.ndarray  # int32 days, NO_DATE = still registered
    dod: np.ndarray  # int32 days, NO_DATE = alive

    def __len__(self) -> int:
        return len(self.patient_id)

    @property
    def window_end(self) -> np.ndarray:
        """Last day the practice could record anything for each patient."""
        return np.where(self.reg_end != NO_DATE, self.reg_end, self._extract)

    _extract: int = 0


def make_people(spec: PracticeSpec, seed: int, extract: dt.date, rng: np.random.Generator) -> People:
    """Draw the practice's patients: age/sex from its list profile, LSOA/IMD around its catchment, ethnicity from
    its borough, names by ethnicity, registrations with churn and deaths."""
    n = spec.n_patients
    e = to_days(extract)
    age = rng.choice(AGES, size=n, p=spec.age_pmf).astype(np.int16)
    male_p = np.clip(spec.male_share - np.where(age >= 80, 0.1, 0.0), 0.0, 1.0)
    u = rng.random(n)
    sex = np.where(u < male_p, "M", "F")
    sex[rng.random(n) < 0.0005] = "U"
    dob = (e - (age.astype(np.float64) * 365.25 + rng.random(n) * 365.0)).astype(np.int32)
    lsoas, imds = _borough_lsoa_arrays(spec.borough)
    pick = rng.choice(len(lsoas), size=n, p=lsoa_weights(imds, spec.imd_centre))
    eth16 = rng.choice(16, size=n, p=borough_shares(spec.borough)).astype(np.int8)
    codes = ethnicity_codes()
    eth_code = np.empty(n, dtype=np.int64)
    for g in range(16):
        sel = np.flatnonzero(eth16 == g)
        if len(sel):
            eth_code[sel] = rng.choice(codes.codes[g], size=len(sel), p=codes.probs[g]).astype(np.int64)
    given, family = draw_names(rng, GROUP6_OF_16[eth16], sex == "M")
    outward = spec.postcode.split(" ")[0] if " " in spec.postcode else spec.postcode[:-3].strip()
    inward = (
        rng.integers(0, 10, n).astype(str).astype(object)
        + _INWARD_LETTERS[rng.integers(0, 20, n)].astype(object)
        + _INWARD_LETTERS[rng.integers(0, 20, n)].astype(object)
    )
    postcode = outward + " " + inward
    # Registration: time at the practice ~ exponential (mean REG_MEAN_YEARS), never before birth.
    start = np.maximum(e - (rng.exponential(REG_MEAN_YEARS, n) * 365.25).astype(np.int32) - 1, dob)
    # Deaths over the last 3 years (Gompertz-like hazard by age), then leavers among the living.
    a, b = DEATH_LOG_HAZARD
    p_death = 1.0 - np.exp(-3.0 * np.exp(a + b * age))
    dead = rng.random(n) < p_death
    p_left = np.where((age >= 18) & (age <= 35), LEFT_RATE_YOUNG_ADULT, LEFT_RATE_BASE)
    left = ~dead & (rng.random(n) < p_left)
    ended = dead | left
    earliest_end = np.maximum(start + 30, e - 3 * 365)
    end = earliest_end + (rng.random(n) * np.maximum(e - earliest_end, 1)).astype(np.int32)
    end = np.where(ended, np.minimum(end, e - 1), NO_DATE).astype(np.int32)
    dod = np.where(dead, end, NO_DATE).astype(np.int32)
    first_index = spec.first_patient
    people = People(
        patient_id=np.arange(first_index + 1, first_index + n + 1, dtype=np.int64),
        nhs_number=nhs_numbers(seed, first_index, n),
        given=given,
        family=family,
        sex=sex,
        dob=dob,
        age=age,
        postcode=postcode,
        lsoa=lsoas[pick],
        imd=imds[pick],
        eth16=eth16,
        eth_code=eth_code,
        reg_start=start.astype(np.int32),
        reg_end=end,
        dod=dod,
    )
    people._extract = e
    return people


def history_start(extract: dt.date) -> int:
    return to_days(extract) - int(HISTORY_YEARS * 365.25)
