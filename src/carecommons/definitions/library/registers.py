"""QOF disease registers for London, written once in the definitions language.

Rules follow the QOF 2024/25 business rules (NHS England, Quality and Outcomes Framework guidance for
2024/25 and the PCD business-rules clusters): in most registers a patient is on the register when their
latest diagnosis code is not followed by a later "resolved" code. Where the cluster the rules name was
not available as a public codelist, the nearest published list is used and the definition says so.
"""

from __future__ import annotations

import datetime as dt

from carecommons.definitions.definition import Definition, Kind, Parameter
from carecommons.definitions.model import Expr, Frame, Param, T, age, events

QOF = "QOF 2024/25 business rules (NHS England), register rules"


def unresolved(diagnosis: Frame, resolved: Frame) -> Expr:
    """Diagnosed, and the latest diagnosis is on or after any 'resolved' code (QOF: resolved must be later)."""
    return diagnosis.exists() & (resolved.last_date().is_null() | (diagnosis.last_date() >= resolved.last_date()))


def _register(
    id: str, title: str, description: str, numerator: Expr, group: str, params: tuple[Parameter, ...] = ()
) -> Definition:
    return Definition(
        id=id,
        version="2024.25.1",
        title=title,
        description=description,
        kind=Kind.REGISTER,
        numerator=numerator,
        parameters=params,
        group=group,
        source=QOF,
    )


_MIN_AGE = Param("min_age", T.INT)


def registers() -> list[Definition]:
    return [
        _register(
            "HYP_REG",
            "Hypertension register",
            "Patients with an unresolved diagnosis of hypertension (HYP001).",
            unresolved(events("hyp"), events("hyp_res")),
            "Hypertension",
        ),
        _register(
            "DM_REG",
            "Diabetes register",
            "Patients aged 17 or over with an unresolved diagnosis of diabetes (DM017).",
            (age() >= _MIN_AGE) & unresolved(events("dm"), events("dm_res")),
            "Diabetes",
            (Parameter("min_age", 17, "youngest age on the register", "years"),),
        ),
        _register(
            "AST_REG",
            "Asthma register",
            "Patients aged 6 or over with an unresolved diagnosis of asthma (AST005). The QOF rule also needs "
            "an asthma-related drug in the last 12 months; no dm+d asthma-drug list is shipped yet, so this "
            "register is wider than QOF's.",
            (age() >= _MIN_AGE) & unresolved(events("ast"), events("ast_res")),
            "Asthma",
            (Parameter("min_age", 6, "youngest age on the register", "years"),),
        ),
        _register(
            "COPD_REG",
            "COPD register",
            "Patients with an unresolved diagnosis of COPD (COPD015).",
            unresolved(events("copd"), events("copd_res")),
            "COPD",
        ),
        _register(
            "CHD_REG",
            "Coronary heart disease register",
            "Patients with a coronary heart disease diagnosis (CHD001).",
            events("chd").exists(),
            "CHD",
        ),
        _register(
            "AF_REG",
            "Atrial fibrillation register",
            "Patients with atrial fibrillation (AF001). AFIBRES_COD is not published as a codelist, so a "
            "resolved code does not remove a patient here.",
            events("afib").exists(),
            "Atrial fibrillation",
        ),
        _register(
            "HF_REG",
            "Heart failure register",
            "Patients with an unresolved diagnosis of heart failure (HF001).",
            unresolved(events("hf"), events("hf_res")),
            "Heart failure",
        ),
        _register(
            "STIA_REG",
            "Stroke and TIA register",
            "Patients with a stroke or transient ischaemic attack (STIA001).",
            events("strk").exists() | events("tia").exists(),
            "Stroke and TIA",
        ),
        _register(
            "CKD_REG",
            "Chronic kidney disease (stages 3a-5) register",
            "Patients aged 18 or over whose latest CKD stage code is stage 3a-5, not followed by a stage 1-2 "
            "or resolved code (CKD005).",
            (age() >= _MIN_AGE)
            & unresolved(events("ckd"), events("ckd_res"))
            & (events("ckd12").last_date().is_null() | (events("ckd").last_date() >= events("ckd12").last_date())),
            "CKD",
            (Parameter("min_age", 18, "youngest age on the register", "years"),),
        ),
        _register(
            "DEM_REG",
            "Dementia register",
            "Patients with a diagnosis of dementia (DEM001).",
            events("dem").exists(),
            "Dementia",
        ),
        _register(
            "DEP_REG",
            "Depression register",
            "Patients aged 18 or over whose latest unresolved depression diagnosis is on or after 1 April 2006 (DEP003).",
            (age() >= _MIN_AGE)
            & unresolved(events("depr"), events("depr_res"))
            & (events("depr").last_date() >= dt.date(2006, 4, 1)),
            "Depression",
            (Parameter("min_age", 18, "youngest age on the register", "years"),),
        ),
        _register(
            "SMI_REG",
            "Severe mental illness register",
            "Patients with schizophrenia, bipolar disorder or other psychoses not in remission (MH001). "
            "Remission uses PRIMIS SMHRES, the nearest published list to MHREM_COD.",
            unresolved(events("mh"), events("mh_res")),
            "Mental health",
        ),
        _register(
            "CAN_REG",
            "Cancer register",
            "Patients with a cancer diagnosis on or after 1 April 2003 (CAN001). CAN_COD is not published; NHSD "
            "solid-cancer and haematological-cancer clusters are used instead, so counts differ from QOF.",
            (events("cancer_solid").last_date() >= dt.date(2003, 4, 1))
            | (events("cancer_haem").last_date() >= dt.date(2003, 4, 1)),
            "Cancer",
        ),
        _register(
            "LD_REG",
            "Learning disability register",
            "Patients with a learning disability (LD004).",
            events("ld").exists(),
            "Learning disability",
        ),
        _register(
            "OB_REG",
            "Obesity register",
            "Patients aged 18 or over whose latest BMI in the last 12 months is 30 kg/m2 or more (OB002).",
            (age() >= _MIN_AGE)
            & (events("bmi").within(months=Param("window_months", T.INT)).last_value() >= Param("bmi_min")),
            "Obesity",
            (
                Parameter("min_age", 18, "youngest age on the register", "years"),
                Parameter("window_months", 12, "look-back for the latest BMI", "months"),
                Parameter("bmi_min", 30.0, "BMI threshold", "kg/m2"),
            ),
        ),
        _register(
            "PC_REG",
            "Palliative care register",
            "Patients with a palliative care code not followed by a 'no longer indicated' code (PC001).",
            unresolved(events("palcare"), events("palcare_ni")),
            "Palliative care",
        ),
    ]
