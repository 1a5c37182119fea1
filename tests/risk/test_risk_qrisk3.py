"""QRISK3 checked against ClinRisk's reference C implementation (fixture built outside the repo, see its `source`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.risk import qrisk3
from carecommons.risk.qrisk import qrisk3_detailed
from carecommons.risk.qrisk3_model import qrisk3_arrays

FIXTURE = json.loads((Path(__file__).parent / "data" / "qrisk3_reference_cases.json").read_text())
CASES = FIXTURE["cases"]


def test_fixture_is_broad_enough() -> None:
    inputs = [c["inputs"] for c in CASES]
    assert len(CASES) >= 100
    assert {i["sex"] for i in inputs} == {"F", "M"}
    assert {i["ethrisk"] for i in inputs if i["ethrisk"] is not None} == set(range(10))
    assert {i["smoke_cat"] for i in inputs if i["smoke_cat"] is not None} == set(range(5))
    assert sum(any(v is None for v in i.values()) for i in inputs) >= 10


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_matches_clinrisk_reference(case: dict) -> None:
    assert qrisk3(**case["inputs"]) == pytest.approx(case["expected"], rel=1e-9, abs=1e-9)


def test_vectorised_matches_reference_in_one_call() -> None:
    inputs = [c["inputs"] for c in CASES]
    cols = {k: np.array([np.nan if i[k] is None else float(i[k]) for i in inputs]) for k in inputs[0] if k != "sex"}
    male = np.array([i["sex"] == "M" for i in inputs])
    cols["b_impotence2"] = np.where(male, cols["b_impotence2"], 0.0)
    scores, _ = qrisk3_arrays(male, **cols)
    np.testing.assert_allclose(scores, [c["expected"] for c in CASES], rtol=1e-9)


def test_published_calculator_examples_to_one_decimal() -> None:
    # qrisk.org calculator results quoted in sisuhealthgroup/qrisk3 tests: white, SBP 120 (SD 10), 70 kg, 1.70 m,
    # Townsend 0, non-smoker; 75-year-old man with cholesterol ratio 4 -> 24.6 %, woman -> 18.1 %.
    common = dict(age=75, bmi=70 / 1.7**2, ethrisk=1, rati=4, sbp=120, sbps5=10, smoke_cat=0, town=0)
    assert round(qrisk3(sex="M", **common), 1) == 24.6
    assert round(qrisk3(sex="F", **common), 1) == 18.1


def test_missing_inputs_are_imputed_and_reported() -> None:
    full = dict(sex="F", age=60, bmi=30.0, ethrisk=2, rati=5.0, sbp=150, sbps5=12.0, smoke_cat=2, town=3.0)
    result = qrisk3_detailed(**{**full, "rati": None, "town": None})
    assert result.imputed == ("rati", "town")
    assert qrisk3_detailed(**full).imputed == ()
    # the imputed score differs from the measured one (a higher ratio and deprivation raise risk)
    assert result.score < qrisk3(**full)


def test_risk_rises_with_each_risk_factor() -> None:
    base = dict(sex="M", age=55, bmi=27, ethrisk=1, rati=4, sbp=130, sbps5=8, smoke_cat=0, town=0)
    b = qrisk3(**base)
    for change in ({"smoke_cat": 4}, {"b_type2": 1}, {"b_AF": 1}, {"fh_cvd": 1}, {"sbp": 170}, {"age": 70}):
        assert qrisk3(**{**base, **change}) > b, change


@pytest.mark.parametrize(
    "bad",
    [{"age": 24}, {"age": 85}, {"bmi": 60}, {"rati": 20}, {"sbp": 300}, {"ethrisk": 10}, {"smoke_cat": 5}, {"surv": 5}],
)
def test_out_of_range_inputs_are_rejected_with_the_input_named(bad: dict) -> None:
    with pytest.raises(InvalidInput) as err:
        qrisk3(**{"sex": "F", "age": 50, **bad})
    assert next(iter(bad)) in err.value.input_name


def test_both_diabetes_types_rejected() -> None:
    with pytest.raises(InvalidInput):
        qrisk3(sex="F", age=50, b_type1=1, b_type2=1)
