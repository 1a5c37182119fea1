"""Core London indicators with their QOF 2024/25 thresholds as named, overridable parameters.

Numerator, denominator and exclusions follow the QOF 2024/25 indicator wording (NHS England, "Quality and
Outcomes Framework guidance for 2024/25"); exclusions model the personalised care adjustments that can be
expressed with the shipped clusters (declined, unsuitable, maximal therapy, newly registered, newly
diagnosed). Where a cluster is missing the description says what is approximated.
"""

from __future__ import annotations

from carecommons.definitions.definition import Definition, Kind, Parameter
from carecommons.definitions.library.registers import unresolved
from carecommons.definitions.model import (
    IndexDate,
    Param,
    T,
    age,
    any_of,
    events,
    medications,
    registered_for,
    vaccinations,
)

QOF = "QOF 2024/25 guidance (NHS England), indicator wording and thresholds"
VERSION = "2024.25.1"

_WINDOW = Param("window_months", T.INT)
_NEW_REG = Param("new_registration_months", T.INT)
_NEW_DX = Param("new_diagnosis_months", T.INT)

_COMMON = (
    Parameter("window_months", 12, "look-back for the measurement or review", "months"),
    Parameter("new_registration_months", 3, "patients registered more recently are excluded", "months"),
)


def _newly(frame_codelist: str):
    """Diagnosed within the last `new_diagnosis_months` (QOF lets practices time to act on a new diagnosis)."""
    return events(frame_codelist).first_date() > IndexDate(months=_NEW_DX)


def _bp_indicator(id: str, title: str, older: bool) -> Definition:
    sys_ = events("bp_sys").within(months=_WINDOW).last_value(tie="min")
    dia = events("bp_dia").within(months=_WINDOW).last_value(tie="min")
    band = (age() >= Param("age_split", T.INT)) if older else (age() < Param("age_split", T.INT))
    return Definition(
        id=id,
        version=VERSION,
        title=title,
        description=(
            f"Patients on the hypertension register aged {'80 or over' if older else '79 or under'} whose "
            "latest blood pressure in the last 12 months is at or below the target (lowest reading of the day)."
        ),
        kind=Kind.INDICATOR,
        denominator=unresolved(events("hyp"), events("hyp_res")) & band,
        numerator=(sys_ <= Param("systolic_max")) & (dia <= Param("diastolic_max")),
        exclusions=any_of(
            events("hyp_pca_dec").within(months=_WINDOW).exists(),
            events("hyp_pca_pu").within(months=_WINDOW).exists(),
            events("bp_dec").within(months=_WINDOW).exists(),
            events("ht_max").within(months=_WINDOW).exists(),
            ~registered_for(_NEW_REG),
            _newly("hyp"),
        ),
        parameters=(
            *_COMMON,
            Parameter("age_split", 80, "age from which the older target applies", "years"),
            Parameter("systolic_max", 150.0 if older else 140.0, "highest systolic meeting the target", "mm[Hg]"),
            Parameter("diastolic_max", 90.0, "highest diastolic meeting the target", "mm[Hg]"),
            Parameter("new_diagnosis_months", 9, "patients diagnosed more recently are excluded", "months"),
        ),
        group="Hypertension",
        source=QOF,
    )


def _dm_hba1c(id: str, frail: bool) -> Definition:
    frailty = events("frail_mod").exists() | events("frail_sev").exists()
    return Definition(
        id=id,
        version=VERSION,
        title=f"Diabetes: HbA1c at or below target ({'with' if frail else 'without'} moderate or severe frailty)",
        description=(
            f"Patients on the diabetes register {'with' if frail else 'without'} moderate or severe frailty whose "
            f"latest HbA1c in the last 12 months is {'75' if frail else '58'} mmol/mol or less."
        ),
        kind=Kind.INDICATOR,
        denominator=(age() >= 17) & unresolved(events("dm"), events("dm_res")) & (frailty if frail else ~frailty),
        numerator=events("hba1c").within(months=_WINDOW).last_value(tie="min") <= Param("hba1c_max"),
        exclusions=any_of(
            events("dm_pca_dec").within(months=_WINDOW).exists(),
            events("dm_pca_pu").within(months=_WINDOW).exists(),
            events("dm_max").within(months=_WINDOW).exists(),
            ~registered_for(_NEW_REG),
            _newly("dm"),
        ),
        parameters=(
            *_COMMON,
            Parameter("hba1c_max", 75.0 if frail else 58.0, "highest HbA1c meeting the target", "mmol/mol"),
            Parameter("new_diagnosis_months", 9, "patients diagnosed more recently are excluded", "months"),
        ),
        group="Diabetes",
        source=QOF,
    )


def _review(id: str, title: str, register, review_codelist: str, group: str, description: str) -> Definition:
    return Definition(
        id=id,
        version=VERSION,
        title=title,
        description=description,
        kind=Kind.INDICATOR,
        denominator=register,
        numerator=events(review_codelist).within(months=_WINDOW).exists(),
        exclusions=~registered_for(_NEW_REG),
        parameters=_COMMON,
        group=group,
        source=QOF,
    )


def indicators() -> list[Definition]:
    anticoag = Param("treatment_months", T.INT)
    statin_window = Param("treatment_months", T.INT)
    return [
        _bp_indicator("HYP008", "Hypertension: blood pressure at or below 140/90 (age 79 or under)", older=False),
        _bp_indicator("HYP009", "Hypertension: blood pressure at or below 150/90 (age 80 or over)", older=True),
        Definition(
            id="BP002",
            version=VERSION,
            title="Blood pressure recorded in the last 5 years (age 45 or over)",
            description="Patients aged 45 or over with a blood pressure recorded in the preceding 5 years.",
            kind=Kind.INDICATOR,
            denominator=age() >= Param("min_age", T.INT),
            numerator=events("bp").within(months=Param("window_months", T.INT)).exists(),
            parameters=(
                Parameter("min_age", 45, "youngest age in the denominator", "years"),
                Parameter("window_months", 60, "look-back for a recording", "months"),
            ),
            group="Blood pressure",
            source=QOF,
        ),
        _dm_hba1c("DM020", frail=False),
        _dm_hba1c("DM021", frail=True),
        Definition(
            id="AF008",
            version=VERSION,
            title="Atrial fibrillation: treated with anticoagulation",
            description=(
                "Patients on the AF register aged 65 or over issued a DOAC or warfarin in the last 6 months. "
                "QOF selects CHA2DS2-VASc >= 2; no CHA2DS2-VASc codelist is shipped, so age 65+ (which alone "
                "scores at least 1, and with any other risk factor 2) stands in for it."
            ),
            kind=Kind.INDICATOR,
            denominator=events("afib").exists() & (age() >= Param("min_age", T.INT)),
            numerator=medications("doac").within(months=anticoag).exists()
            | medications("warfarin").within(months=anticoag).exists(),
            exclusions=~registered_for(_NEW_REG),
            parameters=(
                Parameter("min_age", 65, "proxy for CHA2DS2-VASc >= 2", "years"),
                Parameter("treatment_months", 6, "issue within this many months counts as treated", "months"),
                Parameter("new_registration_months", 3, "patients registered more recently are excluded", "months"),
            ),
            group="Atrial fibrillation",
            source=QOF,
        ),
        Definition(
            id="CHOL003",
            version=VERSION,
            title="Cardiovascular disease: treated with a statin",
            description="Patients with CHD, PAD or stroke/TIA issued a statin in the last 6 months.",
            kind=Kind.INDICATOR,
            denominator=any_of(
                events("chd").exists(), events("pad").exists(), events("strk").exists(), events("tia").exists()
            ),
            numerator=medications("statin").within(months=statin_window).exists(),
            exclusions=~registered_for(_NEW_REG),
            parameters=(
                Parameter("treatment_months", 6, "issue within this many months counts as treated", "months"),
                Parameter("new_registration_months", 3, "patients registered more recently are excluded", "months"),
            ),
            group="Cholesterol",
            source=QOF,
        ),
        _review(
            "AST007",
            "Asthma: reviewed in the last 12 months",
            (age() >= 6) & unresolved(events("ast"), events("ast_res")),
            "ast_review",
            "Asthma",
            "Patients on the asthma register with an asthma review coded in the preceding 12 months.",
        ),
        _review(
            "COPD010",
            "COPD: reviewed in the last 12 months",
            unresolved(events("copd"), events("copd_res")),
            "copd_review",
            "COPD",
            "Patients on the COPD register with a COPD review coded in the preceding 12 months.",
        ),
        _review(
            "DEM004",
            "Dementia: care plan reviewed in the last 12 months",
            events("dem").exists(),
            "dem_careplan",
            "Dementia",
            "Patients on the dementia register with a dementia care plan agreed or reviewed in the preceding 12 "
            "months (DEMCP_COD concepts; the review cluster DEMCPRVW_COD is not published).",
        ),
        Definition(
            id="FLU65",
            version=VERSION,
            title="Influenza vaccination (age 65 or over)",
            description=(
                "Patients aged 65 or over vaccinated against influenza in the last 7 months (for a 31 March index "
                "date: since 1 September, the season's start), from immunisation records or coded procedures."
            ),
            kind=Kind.INDICATOR,
            denominator=age() >= Param("min_age", T.INT),
            numerator=any_of(
                vaccinations("flu_given").within(months=_WINDOW).exists(),
                vaccinations("flu_vaccine").within(months=_WINDOW).exists(),
                events("flu_given").within(months=_WINDOW).exists(),
            ),
            parameters=(
                Parameter("min_age", 65, "youngest age in the denominator", "years"),
                Parameter("window_months", 7, "season look-back", "months"),
            ),
            group="Vaccination",
            source="UKHSA annual flu programme uptake measure (65 and over)",
        ),
    ]
