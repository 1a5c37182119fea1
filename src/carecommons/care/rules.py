"""The built-in worklist rules: who is due a recall, has a care gap, or should be case-found.

Each rule is data (a codelist-driven shape plus parameters) so that a practice sees *why* a patient is on
its list and so that new rules are a few lines, not new SQL. Three shapes cover the common practice work:

- ``no_recent``: on a register and nothing from a check codelist within a window (annual reviews);
- ``latest_value``: the latest reading of a check codelist within a window crosses a threshold, either
  for patients on a register (care gap: uncontrolled) or for patients *not* on it (case finding);
- ``vaccination_due``: in an age group and no vaccination since the start of the current season.

Thresholds are the published ones, each noted on its rule: QOF 2024/25 indicator targets (HYP008/HYP009,
DM036), NICE NG136 (clinic BP >= 140 mmHg systolic: offer ambulatory monitoring) and NICE NG28 / WHO
(HbA1c >= 48 mmol/mol diagnostic of diabetes). Richer scores (eFI, QRISK3) come from the risk layer
through a `WorklistSource` the web layer passes in (care may not import risk).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from carecommons.core.errors import NotFound


class ItemKind(StrEnum):
    """Why a patient is on a worklist. Recalls are routine, care gaps are unmet targets, case finding is
    possible undiagnosed disease."""

    RECALL = "recall"
    CARE_GAP = "care_gap"
    CASE_FINDING = "case_finding"


class RuleShape(StrEnum):
    NO_RECENT = "no_recent"
    LATEST_VALUE = "latest_value"
    VACCINATION_DUE = "vaccination_due"


@dataclass(frozen=True)
class WorklistRule:
    """One line of practice work, defined by codelists (shipped file stems) and parameters."""

    id: str
    kind: ItemKind
    label: str
    shape: RuleShape
    check: tuple[str, ...]  # codelists whose codes count as "done" / "the reading"
    template: str  # invitation template id (care.templates)
    register: tuple[str, ...] = ()  # codelists that put a patient on the register
    resolved: tuple[str, ...] = ()  # codelists that take a patient off it (when later than the register code)
    not_on_register: bool = False  # case finding: the patient is NOT on the register
    window_months: int = 12
    threshold: float | None = None
    age_min: int | None = None
    age_max: int | None = None
    source: str = ""


_HYP = ("nhsd-primary-care-domain-refsets-hyp_cod",)
_HYPRES = ("nhsd-primary-care-domain-refsets-hypres_cod",)
_DM = ("nhsd-primary-care-domain-refsets-dm_cod",)
_DMRES = ("nhsd-primary-care-domain-refsets-dmres_cod",)
_SYSTOLIC = ("opensafely-systolic-blood-pressure-qof",)
_BP = ("opensafely-systolic-blood-pressure-qof", "nhsd-primary-care-domain-refsets-bp_cod")
_HBA1C = ("opensafely-glycated-haemoglobin-hba1c-tests", "nhsd-primary-care-domain-refsets-ifcchbam_cod")
_NDH = ("nhsd-primary-care-domain-refsets-ndh_cod",)
_FLU = ("gm-sde/flu-vaccination.snomed", "gm-sde/flu-vaccine.snomed", "opensafely-influenza-vaccination")

BUILTIN_RULES: tuple[WorklistRule, ...] = (
    WorklistRule(
        id="hyp-bp-review",
        kind=ItemKind.RECALL,
        label="Hypertension: blood pressure not recorded in 12 months",
        shape=RuleShape.NO_RECENT,
        register=_HYP,
        resolved=_HYPRES,
        check=_BP,
        template="bp-review",
        source="QOF HYP008/HYP009 need a BP in the preceding 12 months",
    ),
    WorklistRule(
        id="dm-hba1c-review",
        kind=ItemKind.RECALL,
        label="Diabetes: HbA1c not recorded in 12 months",
        shape=RuleShape.NO_RECENT,
        register=_DM,
        resolved=_DMRES,
        check=_HBA1C,
        template="hba1c-review",
        source="QOF DM036 needs an HbA1c in the preceding 12 months",
    ),
    WorklistRule(
        id="ndh-hba1c-review",
        kind=ItemKind.RECALL,
        label="Non-diabetic hyperglycaemia: annual HbA1c due",
        shape=RuleShape.NO_RECENT,
        register=_NDH,
        check=_HBA1C,
        template="hba1c-review",
        source="NICE PH38: annual HbA1c for people with non-diabetic hyperglycaemia",
    ),
    WorklistRule(
        id="hyp-bp-uncontrolled",
        kind=ItemKind.CARE_GAP,
        label="Hypertension (under 80): last systolic BP above 140 mmHg",
        shape=RuleShape.LATEST_VALUE,
        register=_HYP,
        resolved=_HYPRES,
        check=_SYSTOLIC,
        threshold=140.0,
        age_max=79,
        template="bp-review",
        source="QOF HYP008: age 79 or under, last BP 140/90 mmHg or less",
    ),
    WorklistRule(
        id="hyp-bp-uncontrolled-80",
        kind=ItemKind.CARE_GAP,
        label="Hypertension (80 and over): last systolic BP above 150 mmHg",
        shape=RuleShape.LATEST_VALUE,
        register=_HYP,
        resolved=_HYPRES,
        check=_SYSTOLIC,
        threshold=150.0,
        age_min=80,
        template="bp-review",
        source="QOF HYP009: age 80 or over, last BP 150/90 mmHg or less",
    ),
    WorklistRule(
        id="dm-hba1c-high",
        kind=ItemKind.CARE_GAP,
        label="Diabetes: last HbA1c above 58 mmol/mol",
        shape=RuleShape.LATEST_VALUE,
        register=_DM,
        resolved=_DMRES,
        check=_HBA1C,
        threshold=58.0,
        template="hba1c-review",
        source="QOF DM036: last HbA1c 58 mmol/mol or less",
    ),
    WorklistRule(
        id="possible-hypertension",
        kind=ItemKind.CASE_FINDING,
        label="Possible undiagnosed hypertension: last systolic BP 140 mmHg or more",
        shape=RuleShape.LATEST_VALUE,
        register=_HYP,
        resolved=_HYPRES,
        not_on_register=True,
        check=_SYSTOLIC,
        threshold=140.0,
        age_min=18,
        template="bp-check",
        source="NICE NG136 1.2: clinic BP 140/90 mmHg or higher, offer ambulatory monitoring",
    ),
    WorklistRule(
        id="possible-diabetes",
        kind=ItemKind.CASE_FINDING,
        label="Possible undiagnosed diabetes: last HbA1c 48 mmol/mol or more",
        shape=RuleShape.LATEST_VALUE,
        register=_DM,
        resolved=_DMRES,
        not_on_register=True,
        check=_HBA1C,
        threshold=48.0,
        age_min=18,
        template="hba1c-review",
        source="NICE NG28 / WHO 2011: HbA1c 48 mmol/mol (6.5%) or more is diagnostic",
    ),
    WorklistRule(
        id="flu-65",
        kind=ItemKind.RECALL,
        label="Flu vaccination due (65 and over)",
        shape=RuleShape.VACCINATION_DUE,
        check=_FLU,
        age_min=65,
        template="flu-invite",
        source="UKHSA annual flu letter: everyone aged 65 and over; season from 1 September",
    ),
)

RULES_BY_ID: dict[str, WorklistRule] = {r.id: r for r in BUILTIN_RULES}


def rule(rule_id: str) -> WorklistRule:
    """A built-in rule by id, with a NotFound that lists the valid ids."""
    try:
        return RULES_BY_ID[rule_id]
    except KeyError:
        raise NotFound("rule", f"no worklist rule {rule_id!r}", f"use one of {', '.join(RULES_BY_ID)}") from None


def season_start(index: dt.date) -> dt.date:
    """1 September of the flu season the index date falls in (September to August)."""
    return dt.date(index.year if index.month >= 9 else index.year - 1, 9, 1)
