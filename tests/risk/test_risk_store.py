"""The store reader: age on the index date, the registered population, windows and same-day tie-breaks."""

from __future__ import annotations

import datetime as dt

import pytest

from carecommons.core.errors import InvalidInput
from carecommons.risk._store import Feature, check_index_date, features, population, wide


def _add(store, pid: int, dob: dt.date) -> None:
    store.con.execute(
        "INSERT INTO patients (patient_id, date_of_birth, sex, practice_id, load_id) VALUES (?, ?, 'F', 'P1', 'L')",
        [pid, dob],
    )
    store.con.execute("INSERT INTO registrations VALUES (?, 'P1', DATE '2000-01-01', NULL, 'L')", [pid])


def test_age_in_completed_years_on_the_index_date(store) -> None:
    _add(store, 1, dt.date(1960, 3, 31))  # 66th birthday on the index date
    _add(store, 2, dt.date(1960, 4, 1))  # 66th birthday tomorrow
    _add(store, 3, dt.date(1960, 2, 29))  # leap-day birth
    ages = population(store.con, dt.date(2026, 3, 31)).set_index("patient_id")["age"]
    assert ages.to_dict() == {1: 66, 2: 65, 3: 66}


def test_population_filters(store) -> None:
    store.patient("in", age=50)
    store.patient("left", age=50, registered=False)
    store.patient("dead", age=50, died=store.ago(1))
    store.patient("young", age=10)
    pop = population(store.con, store.index, min_age=18)
    assert pop["patient_id"].tolist() == [store.ids["in"]]
    assert population(store.con, store.index, patient_ids=[store.ids["young"]])["patient_id"].tolist() == [
        store.ids["young"]
    ]


def test_windows_and_same_day_tie_break(store) -> None:
    store.patient("a", age=50)
    sbp = store.code("sys_bp")
    store.event("a", sbp, store.ago(10), 150)
    store.event("a", sbp, store.ago(10), 130)  # same day: the lower reading is the day's value
    store.event("a", sbp, store.ago(800), 170)  # outside a 24-month window
    store.event("a", sbp, store.ago(-1), 190)  # after the index date: never counted
    population(store.con, store.index)
    long = features(store.con, store.index, [Feature("bp", frozenset([sbp]), months=24)])
    w = wide(long, [store.ids["a"]], {"n": "bp.n", "v": "bp.last_value", "sd": "bp.value_sd"})
    assert w.loc[store.ids["a"], "n"] == 2 and w.loc[store.ids["a"], "v"] == 130
    assert w.loc[store.ids["a"], "sd"] == pytest.approx(14.142135, rel=1e-6)


def test_bad_index_date() -> None:
    assert check_index_date("2026-03-31") == dt.date(2026, 3, 31)
    with pytest.raises(InvalidInput):
        check_index_date("31/03/2026")
    with pytest.raises(InvalidInput):
        check_index_date(20260331)  # type: ignore[arg-type]


def test_duplicate_feature_names_rejected(store) -> None:
    with pytest.raises(InvalidInput):
        features(store.con, store.index, [Feature("x", frozenset()), Feature("x", frozenset())])
