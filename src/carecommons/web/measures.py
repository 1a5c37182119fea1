"""The registers and indicators the dashboards show, until the engine's shared definitions library lands.

Each is tied to a shipped QOF/OpenCodelists codelist so the figures mean the same as QOF business rules in
spirit (register = ever coded; indicator = a recent coded measurement). When `carecommons.engine.results`
is available the dashboards read its aggregates instead, and these stand only as labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from carecommons.core.errors import NotFound
from carecommons.reference.codelists import Codelist, shipped


@dataclass(frozen=True)
class Register:
    id: str
    label: str
    codelist: str
    min_age: int = 0


@dataclass(frozen=True)
class Indicator:
    """Share of a register with a qualifying coded value in the last `months` months (latest value counts)."""

    id: str
    label: str
    register_id: str
    codelist: str
    months: int = 12
    max_value: float | None = None


_P = "nhsd-primary-care-domain-refsets-"
REGISTERS: tuple[Register, ...] = (
    Register("hyp", "Hypertension", _P + "hyp_cod"),
    Register("dm", "Diabetes", _P + "dm_cod", 17),
    Register("ast", "Asthma", _P + "ast_cod", 6),
    Register("copd", "COPD", _P + "copd_cod"),
    Register("chd", "Coronary heart disease", _P + "chd_cod"),
    Register("af", "Atrial fibrillation", _P + "afib_cod"),
    Register("hf", "Heart failure", _P + "hf_cod"),
    Register("stia", "Stroke", _P + "strk_cod"),
    Register("ckd", "Chronic kidney disease", _P + "ckd_cod", 18),
    Register("dem", "Dementia", _P + "dem_cod"),
    Register("dep", "Depression", _P + "depr_cod", 18),
    Register("epil", "Epilepsy", _P + "epil_cod", 18),
)
REGISTERS_BY_ID = {r.id: r for r in REGISTERS}

INDICATORS: tuple[Indicator, ...] = (
    Indicator("hyp_bp", "Hypertension: blood pressure recorded in the last 12 months", "hyp", _P + "bp_cod"),
    Indicator(
        "dm_hba1c",
        "Diabetes: latest HbA1c in the last 12 months is 58 mmol/mol or less",
        "dm",
        "opensafely-glycated-haemoglobin-hba1c-tests",
        max_value=58.0,
    ),
)


def register(register_id: str) -> Register:
    try:
        return REGISTERS_BY_ID[register_id]
    except KeyError:
        raise NotFound(
            "register", f"no register called '{register_id}'", f"use one of {', '.join(REGISTERS_BY_ID)}"
        ) from None


@cache
def codelist(name: str) -> Codelist:
    return shipped(name)
