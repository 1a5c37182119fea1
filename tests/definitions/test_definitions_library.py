"""The London library on hand-made patients: every register and indicator, on the reference evaluator and DuckDB.

Each scenario is one patient (born 1960-06-15 unless said, registered since 2000) with a few coded events,
and the den/num/exc flags a clinician would expect at the index date 2025-03-31 from the QOF wording.
Codes are taken from the library's own codelists, so a broken codelist breaks these tests too.
"""

from __future__ import annotations

import datetime as dt

import pytest

from carecommons.definitions.library import load_library
from carecommons.definitions.plan import Planned

LIB = load_library()
INDEX = dt.date(2025, 3, 31)
ADULT = dt.date(1960, 6, 15)
OLD = dt.date(1935, 1, 1)
CHILD = dt.date(2015, 1, 1)


def code(codelist: str) -> str:
    return sorted(LIB.codelists[codelist].codes)[0]


def ev(codelist: str, date: str, value: float | None = None) -> tuple[str, str, str, float | None]:
    return ("events", code(codelist), date, value)


def med(codelist: str, date: str) -> tuple[str, str, str, None]:
    return ("medications", code(codelist), date, None)


def vac(codelist: str, date: str) -> tuple[str, str, str, None]:
    return ("vaccinations", code(codelist), date, None)


# (definition, description, date of birth, records, registered from, expected (den, num, exc))
S = [
    ("HYP_REG", "diagnosed", ADULT, [ev("hyp", "2010-01-01")], "2000-01-01", (1, 1, 0)),
    (
        "HYP_REG",
        "resolved later",
        ADULT,
        [ev("hyp", "2010-01-01"), ev("hyp_res", "2015-01-01")],
        "2000-01-01",
        (1, 0, 0),
    ),
    ("HYP_REG", "no code", ADULT, [], "2000-01-01", (1, 0, 0)),
    ("DM_REG", "adult diagnosed", ADULT, [ev("dm", "2012-01-01")], "2000-01-01", (1, 1, 0)),
    ("DM_REG", "child under 17", CHILD, [ev("dm", "2022-01-01")], "2015-01-01", (1, 0, 0)),
    ("AST_REG", "age 6 or over", ADULT, [ev("ast", "2001-01-01")], "2000-01-01", (1, 1, 0)),
    ("COPD_REG", "diagnosed", ADULT, [ev("copd", "2020-01-01")], "2000-01-01", (1, 1, 0)),
    ("CHD_REG", "diagnosed", ADULT, [ev("chd", "2020-01-01")], "2000-01-01", (1, 1, 0)),
    ("AF_REG", "diagnosed", ADULT, [ev("afib", "2020-01-01")], "2000-01-01", (1, 1, 0)),
    ("HF_REG", "resolved", ADULT, [ev("hf", "2018-01-01"), ev("hf_res", "2019-01-01")], "2000-01-01", (1, 0, 0)),
    ("STIA_REG", "TIA only", ADULT, [ev("tia", "2019-01-01")], "2000-01-01", (1, 1, 0)),
    ("CKD_REG", "stage 3", ADULT, [ev("ckd", "2019-01-01")], "2000-01-01", (1, 1, 0)),
    (
        "CKD_REG",
        "later stage 1-2",
        ADULT,
        [ev("ckd", "2019-01-01"), ev("ckd12", "2020-01-01")],
        "2000-01-01",
        (1, 0, 0),
    ),
    ("DEM_REG", "diagnosed", OLD, [ev("dem", "2021-01-01")], "2000-01-01", (1, 1, 0)),
    ("DEP_REG", "after April 2006", ADULT, [ev("depr", "2010-01-01")], "2000-01-01", (1, 1, 0)),
    ("DEP_REG", "before April 2006", ADULT, [ev("depr", "2005-01-01")], "2000-01-01", (1, 0, 0)),
    ("SMI_REG", "psychosis", ADULT, [ev("mh", "2011-01-01")], "2000-01-01", (1, 1, 0)),
    ("CAN_REG", "after April 2003", ADULT, [ev("cancer_solid", "2020-01-01")], "2000-01-01", (1, 1, 0)),
    ("CAN_REG", "before April 2003", ADULT, [ev("cancer_haem", "2001-01-01")], "2000-01-01", (1, 0, 0)),
    ("LD_REG", "recorded", ADULT, [ev("ld", "2001-01-01")], "2000-01-01", (1, 1, 0)),
    ("OB_REG", "BMI 32 this year", ADULT, [ev("bmi", "2024-12-01", 32.0)], "2000-01-01", (1, 1, 0)),
    ("OB_REG", "BMI 32 two years ago", ADULT, [ev("bmi", "2023-01-01", 32.0)], "2000-01-01", (1, 0, 0)),
    ("PC_REG", "palliative", OLD, [ev("palcare", "2024-01-01")], "2000-01-01", (1, 1, 0)),
    (
        "HYP008",
        "controlled, lowest reading of the day counts",
        ADULT,
        [
            ev("hyp", "2010-01-01"),
            ev("bp_sys", "2025-01-10", 150.0),
            ev("bp_sys", "2025-01-10", 138.0),
            ev("bp_dia", "2025-01-10", 85.0),
        ],
        "2000-01-01",
        (1, 1, 0),
    ),
    (
        "HYP008",
        "uncontrolled",
        ADULT,
        [ev("hyp", "2010-01-01"), ev("bp_sys", "2025-01-10", 145.0), ev("bp_dia", "2025-01-10", 85.0)],
        "2000-01-01",
        (1, 0, 0),
    ),
    ("HYP008", "newly registered: excluded", ADULT, [ev("hyp", "2010-01-01")], "2025-02-01", (1, 0, 1)),
    ("HYP008", "newly diagnosed: excluded", ADULT, [ev("hyp", "2025-01-01")], "2000-01-01", (1, 0, 1)),
    ("HYP008", "80 or over belongs to HYP009", OLD, [ev("hyp", "2010-01-01")], "2000-01-01", (0, 0, 0)),
    (
        "HYP009",
        "80+ at 148/88",
        OLD,
        [ev("hyp", "2010-01-01"), ev("bp_sys", "2024-10-01", 148.0), ev("bp_dia", "2024-10-01", 88.0)],
        "2000-01-01",
        (1, 1, 0),
    ),
    ("BP002", "BP 4 years ago", ADULT, [ev("bp", "2021-06-01", 120.0)], "2000-01-01", (1, 1, 0)),
    ("BP002", "BP 6 years ago", ADULT, [ev("bp", "2019-01-01", 120.0)], "2000-01-01", (1, 0, 0)),
    ("BP002", "under 45", CHILD, [], "2015-01-01", (0, 0, 0)),
    ("DM020", "HbA1c 55", ADULT, [ev("dm", "2010-01-01"), ev("hba1c", "2024-11-01", 55.0)], "2000-01-01", (1, 1, 0)),
    ("DM020", "HbA1c 60", ADULT, [ev("dm", "2010-01-01"), ev("hba1c", "2024-11-01", 60.0)], "2000-01-01", (1, 0, 0)),
    (
        "DM020",
        "declined care: excluded",
        ADULT,
        [ev("dm", "2010-01-01"), ev("dm_pca_dec", "2024-11-01")],
        "2000-01-01",
        (1, 0, 1),
    ),
    (
        "DM020",
        "frail goes to DM021",
        ADULT,
        [ev("dm", "2010-01-01"), ev("frail_sev", "2020-01-01")],
        "2000-01-01",
        (0, 0, 0),
    ),
    (
        "DM021",
        "frail, HbA1c 70",
        ADULT,
        [ev("dm", "2010-01-01"), ev("frail_mod", "2020-01-01"), ev("hba1c", "2025-01-01", 70.0)],
        "2000-01-01",
        (1, 1, 0),
    ),
    ("AF008", "on a DOAC", OLD, [ev("afib", "2015-01-01"), med("doac", "2025-02-01")], "2000-01-01", (1, 1, 0)),
    (
        "AF008",
        "warfarin stopped a year ago",
        OLD,
        [ev("afib", "2015-01-01"), med("warfarin", "2024-01-01")],
        "2000-01-01",
        (1, 0, 0),
    ),
    ("AF008", "under 65", ADULT, [ev("afib", "2015-01-01")], "2000-01-01", (0, 0, 0)),
    (
        "CHOL003",
        "CHD on a statin",
        ADULT,
        [ev("chd", "2015-01-01"), med("statin", "2025-03-01")],
        "2000-01-01",
        (1, 1, 0),
    ),
    ("CHOL003", "PAD, no statin", ADULT, [ev("pad", "2015-01-01")], "2000-01-01", (1, 0, 0)),
    ("AST007", "reviewed", ADULT, [ev("ast", "2010-01-01"), ev("ast_review", "2024-06-01")], "2000-01-01", (1, 1, 0)),
    (
        "AST007",
        "review too old",
        ADULT,
        [ev("ast", "2010-01-01"), ev("ast_review", "2023-06-01")],
        "2000-01-01",
        (1, 0, 0),
    ),
    (
        "COPD010",
        "reviewed",
        ADULT,
        [ev("copd", "2010-01-01"), ev("copd_review", "2024-06-01")],
        "2000-01-01",
        (1, 1, 0),
    ),
    (
        "DEM004",
        "care plan agreed",
        OLD,
        [ev("dem", "2020-01-01"), ev("dem_careplan", "2025-01-01")],
        "2000-01-01",
        (1, 1, 0),
    ),
    ("FLU65", "vaccinated in the season", OLD, [vac("flu_given", "2024-10-15")], "2000-01-01", (1, 1, 0)),
    ("FLU65", "vaccinated last season", OLD, [vac("flu_vaccine", "2023-10-15")], "2000-01-01", (1, 0, 0)),
    ("FLU65", "coded as a procedure", OLD, [ev("flu_given", "2024-11-01")], "2000-01-01", (1, 1, 0)),
]


def _tables() -> dict[str, list[dict]]:
    tables: dict[str, list[dict]] = {
        "patients": [],
        "registrations": [],
        "events": [],
        "medications": [],
        "vaccinations": [],
    }
    for pid, (_def, _desc, dob, records, reg, _exp) in enumerate(S, start=1):
        tables["patients"].append({"patient_id": pid, "date_of_birth": dob, "sex": "F"})
        tables["registrations"].append(
            {"patient_id": pid, "practice_id": "P1", "start_date": dt.date.fromisoformat(reg), "end_date": None}
        )
        for table, c, date, value in records:
            row = {"patient_id": pid, "code": c, "date": dt.date.fromisoformat(date)}
            if table == "events":
                row["value"] = value
            tables[table].append(row)
    return tables


def test_every_library_definition_has_a_scenario():
    assert {s[0] for s in S} == set(LIB.definitions)


@pytest.fixture(scope="module")
def outcomes(run_on):
    plan: list[Planned] = LIB.plan()
    tables = _tables()
    return {b: run_on(b)(tables, LIB.codes(), plan, [INDEX]) for b in ("reference", "duckdb")}


@pytest.mark.parametrize("backend", ["reference", "duckdb"])
@pytest.mark.parametrize("n", range(len(S)), ids=[f"{s[0]}: {s[1]}" for s in S])
def test_scenario(outcomes, backend, n):
    def_id, _desc, _dob, _records, _reg, expected = S[n]
    row = outcomes[backend][(n + 1, INDEX)]
    c = def_id.lower()
    assert (row[f"{c}_den"], row[f"{c}_num"], row[f"{c}_exc"]) == tuple(float(x) for x in expected)


def test_definitions_carry_metadata_and_codelists():
    for d in LIB.definitions.values():
        assert d.version and d.description and d.source
        assert d.codelists, d.id
        for cl in d.codelists:
            assert len(LIB.codelists[cl]) > 0
