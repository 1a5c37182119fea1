"""Care gaps from engine-shaped indicator results and the real London library."""

from __future__ import annotations

import pandas as pd
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.definitions.library import load_library
from carecommons.risk.care_gaps import ACTIONS, COLUMNS, care_gaps


@pytest.fixture(scope="module")
def library():
    return load_library()


def test_gaps_are_denominator_minus_numerator_minus_exceptions(library) -> None:
    results = pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "hyp008_den": [1, 1, 1, 0],
            "hyp008_num": [1, 0, 0, 0],
            "hyp008_exc": [0, 0, 1, 0],
            "af008_den": [0, 1, 0, 1],
            "af008_num": [0, 0, 0, 1],
            "hyp_den": [1, 1, 1, 1],  # a register, not an indicator: never a gap
            "hyp_num": [0, 0, 0, 0],
        }
    )
    out = care_gaps(results, library)
    assert list(out.columns) == COLUMNS
    assert list(zip(out["patient_id"], out["indicator_id"], strict=True)) == [(2, "AF008"), (2, "HYP008")]
    row = out[out["indicator_id"] == "HYP008"].iloc[0]
    assert row["action"] == ACTIONS["HYP008"] and library.get("HYP008").title in row["gap"]


def test_index_dates_kept_and_actions_overridable(library) -> None:
    results = pd.DataFrame(
        {"patient_id": [1, 1], "index_date": ["2026-01-31", "2026-02-28"], "flu65_den": [1, 1], "flu65_num": [0, 1]}
    )
    out = care_gaps(results, library, actions={"FLU65": "Book flu clinic"})
    assert out[["patient_id", "index_date", "action"]].values.tolist() == [[1, "2026-01-31", "Book flu clinic"]]


def test_indicator_without_known_action_gets_one_from_its_title() -> None:
    class Def:
        kind = "indicator"
        title = "Something measured"

    out = care_gaps(pd.DataFrame({"patient_id": [7], "x1_den": [1], "x1_num": [0]}), {"X1": Def()})
    assert out["action"].iloc[0] == "Review and act so that: Something measured"


def test_no_gaps_and_bad_input(library) -> None:
    empty = care_gaps(pd.DataFrame({"patient_id": [1], "flu65_den": [1], "flu65_num": [1]}), library)
    assert empty.empty and list(empty.columns) == COLUMNS
    with pytest.raises(InvalidInput):
        care_gaps(pd.DataFrame({"x": [1]}), library)
    with pytest.raises(InvalidInput):
        care_gaps(pd.DataFrame({"patient_id": [1]}), 42)


def test_care_gaps_on_real_engine_output(store, library) -> None:
    """End to end: the engine's compiled SQL on the store, then care gaps (checks the column contract)."""
    from carecommons.engine.backends import duckdb_rows
    from carecommons.engine.compiler import compile_plan

    store.patient("uncontrolled", age=60)
    store.patient("controlled", age=60)
    for who, sbp in (("uncontrolled", 165), ("controlled", 125)):
        store.event(who, store.code("hyp"), store.ago(2000))
        store.event(who, store.code("sys_bp"), store.ago(30), sbp)
        store.event(who, store.code("dia_bp"), store.ago(30), 80)
    compiled = compile_plan(library.plan(definition_ids=["HYP008"]), library.codes(), [store.index])
    results = pd.DataFrame(duckdb_rows(store.con, compiled))
    out = care_gaps(results, library)
    assert out["patient_id"].tolist() == [store.ids["uncontrolled"]]
    assert out["indicator_id"].tolist() == ["HYP008"]
