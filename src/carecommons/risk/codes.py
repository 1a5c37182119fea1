"""The codelists the risk scores read, by short name, each traceable to a shipped file.

SNOMED CT lists come from the shipped reference data (carecommons.reference.codelists, Verhoeff-checked). dm+d
medicine lists that the reference data lacks are vendored in risk/data/ (see the README there for their sources).
Loading is cached per process: the lists are read once, then joined in SQL as a temp table.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from carecommons.core.errors import NotFound
from carecommons.reference.codelists import Codelist, shipped

RISK_DATA = Path(__file__).resolve().parent / "data"

_PCD = "nhsd-primary-care-domain-refsets-{}_cod"

#: SNOMED CT lists: short name -> shipped codelist name.
SNOMED: dict[str, str] = {
    "af": "via_search_index/" + _PCD.format("afib") + ".csv",
    "hyp": _PCD.format("hyp"),
    "hyp_res": _PCD.format("hypres"),
    "dm": _PCD.format("dm"),
    "dm_res": _PCD.format("dmres"),
    "chd": _PCD.format("chd"),
    "hf": _PCD.format("hf"),
    "stroke": _PCD.format("strk"),
    "tia": _PCD.format("tia"),
    "pad": _PCD.format("pad"),
    "ckd": _PCD.format("ckd"),
    "ckd_res": _PCD.format("ckdres"),
    "ra": _PCD.format("rarth"),
    "smi": _PCD.format("mh"),
    "sys_bp": "opensafely-systolic-blood-pressure-qof",
    "dia_bp": "user-milanwiedemann-diastolic-blood-pressure-qof",
    "hba1c": "gm-sde/hba1c.snomed.txt",
    "egfr": "gm-sde/egfr.snomed.txt",
    "bmi": "via_search_index/" + _PCD.format("bmival") + ".csv",
    "chol_total": "opensafely-cholesterol-tests",
    "chol_hdl": "gm-sde/hdl-cholesterol.snomed.txt",
    "chol_ratio": "gm-sde/cholesterol-hdl-ratio.snomed.txt",
    "smoke_current": "via_search_index/" + _PCD.format("lsmok") + ".csv",
    "smoke_ex": "via_search_index/" + _PCD.format("exsmok") + ".csv",
    "smoke_never": "gm-sde/smoking-status-never.snomed.txt",
    "anaemia": "efi_gm-sde/efi-anaemia.snomed.txt",
    "frail_mild": _PCD.format("mildfrail"),
    "frail_mod": _PCD.format("modfrail"),
    "frail_sev": _PCD.format("sevfrail"),
    "palcare": _PCD.format("palcare"),
}

#: dm+d lists vendored in risk/data: short name -> (file, code column).
DMD: dict[str, tuple[str, str]] = {
    "statin": ("opensafely-statin-medication.csv", "id"),
    "doac": ("opensafely-direct-acting-oral-anticoagulants-doac.csv", "code"),
    "warfarin": ("opensafely-warfarin.csv", "code"),
    "oral_steroid": ("opensafely-asthma-oral-prednisolone-medication.csv", "snomed_id"),
}

#: The 35 code-based eFI deficits (Clegg et al. 2016); the 36th, polypharmacy, is counted from prescriptions.
EFI_DEFICITS: tuple[str, ...] = tuple(
    (
        "activity-limitation anaemia arthritis atrial-fibrillation care-requirement chd ckd cognitive-problems "
        "diabetes dizziness dyspnoea falls foot-problems fragility-fracture hearing-loss heart-failure "
        "heart-valve-disease housebound hypertension hypotension mobility-problems osteoporosis parkinsons "
        "peptic-ulcer pvd respiratory-disease skin-ulcer sleep-disturbance social-vulnerability stroke-tia "
        "thyroid-disorders urinary-incontinence urinary-system-disease vision-problems weight-loss"
    ).split()
)


@cache
def snomed(name: str) -> Codelist:
    """A SNOMED CT list by short name (or `efi:<deficit>` for an eFI deficit list)."""
    if name.startswith("efi:"):
        return shipped(f"efi_gm-sde/efi-{name[4:]}.snomed.txt")
    if name not in SNOMED:
        raise NotFound(name, "no risk codelist by that name", f"use one of {sorted(SNOMED)}")
    return shipped(SNOMED[name])


@cache
def dmd(name: str) -> Codelist:
    """A vendored dm+d list by short name."""
    if name not in DMD:
        raise NotFound(name, "no risk medicine list by that name", f"use one of {sorted(DMD)}")
    file, column = DMD[name]
    path = RISK_DATA / file
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    codes = {r[column].strip(): "" for r in rows if r.get(column, "").strip()}
    return Codelist(id=name, system="dmd", codes=frozenset(codes), terms=codes, source=str(path))


def diabetes_type1_codes() -> frozenset[str]:
    """DM_COD codes whose term names type 1 diabetes; every other DM_COD code counts as type 2 for QRISK3."""
    dm = snomed("dm")
    keys = ("type 1", "type i ", "type i diabetes", "insulin dependent", "insulin-dependent")
    not_type1 = ("non-insulin", "maturity onset")  # MODY is monogenic, not type 1
    return frozenset(
        c
        for c in dm.codes
        if any(k in dm.terms.get(c, "").lower() for k in keys)
        and not any(k in dm.terms.get(c, "").lower() for k in not_type1)
    )
