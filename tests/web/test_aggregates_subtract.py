"""A cohort counted as everyone's counts less the left-out patients' gives exactly the direct count's frames
(same rows, order, dtypes and fingerprint), and the direct count is kept where it is as cheap."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from carecommons.engine.runner import create_results_tables
from carecommons.store.analytics import connect
from carecommons.web.aggregates import EveryoneCache, PracticeAggregates, compute, latest_run


def assert_same(direct: PracticeAggregates, other: PracticeAggregates) -> None:
    """Every frame equal, row for row and dtype for dtype, and the same run, dates, definitions and cohort."""
    for name in ("practices", "population", "counts", "strata"):
        pd.testing.assert_frame_equal(getattr(direct, name), getattr(other, name), check_exact=True, obj=name)
    assert (direct.run_id, direct.snapshot_id, direct.index_date, direct.index_dates, direct.cohort) == (
        other.run_id,
        other.snapshot_id,
        other.index_date,
        other.index_dates,
        other.cohort,
    )
    assert direct.definitions == other.definitions


@pytest.fixture
def store(web_env):
    con = duckdb.connect(str(web_env.store), read_only=True)
    yield con
    con.close()


def _allowed(con: duckdb.DuckDBPyConnection, name: str, sql: str, params: list | None = None) -> str:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", params or [])
    return name


def _latest(con: duckdb.DuckDBPyConnection) -> tuple[str, dt.date]:
    _run_id, snap, dates, _v, _k = latest_run(con)
    return snap, max(dates)


def test_nobody_excluded_is_everyone_with_no_second_count(store):
    everyone = EveryoneCache()
    table = _allowed(store, "allowed_all", "SELECT DISTINCT patient_id FROM patients")
    direct = compute(store, table, method="direct")
    got = compute(store, table, everyone=everyone)
    assert (everyone.counted, everyone.subtracted) == (1, 1)
    assert_same(direct, got)
    assert_same(direct, compute(store, table, everyone=everyone))
    assert everyone.counted == 1  # counted once per run, then only looked up


def test_a_few_opted_out_patients_including_unrecorded_ethnicity(store):
    """The left-out patients' rows come off the groups they were in, NULL keys (ethnicity not recorded, and
    the columns GROUPING SETS leave out) matching NULL keys."""
    snap, latest = _latest(store)
    (no_ethnicity,) = store.execute(
        "SELECT min(patient_id) FROM results_population WHERE snapshot_id = ? AND index_date = ? "
        "AND ethnicity_6 IS NULL",
        [snap, latest],
    ).fetchone()
    assert no_ethnicity is not None
    left_out = [
        no_ethnicity,
        *[r[0] for r in store.execute("SELECT patient_id FROM patients ORDER BY 1 LIMIT 6").fetchall()],
    ]
    table = _allowed(
        store, "allowed_few", "SELECT patient_id FROM patients WHERE NOT list_contains(?, patient_id)", [left_out]
    )
    everyone = EveryoneCache()
    direct = compute(store, table, method="direct")
    got = compute(store, table, everyone=everyone)
    assert everyone.subtracted == 1
    assert_same(direct, got)
    unrecorded = got.strata[(got.strata["grouping"] == "ethnicity_6") & got.strata["ethnicity_6"].isna()]
    every = compute(store, _allowed(store, "allowed_every", "SELECT patient_id FROM patients"), method="direct")
    before = every.strata[(every.strata["grouping"] == "ethnicity_6") & every.strata["ethnicity_6"].isna()]
    assert int(unrecorded["denominator"].sum()) < int(before["denominator"].sum())


def test_opt_out_of_the_only_patient_of_a_stratum_removes_the_group(store):
    snap, latest = _latest(store)
    pid, practice, age_band, sex = store.execute(
        """SELECT any_value(patient_id), practice_id, age_band, sex FROM results_population
           WHERE snapshot_id = ? AND index_date = ? GROUP BY practice_id, age_band, sex HAVING count(*) = 1
           ORDER BY 2, 3, 4 LIMIT 1""",
        [snap, latest],
    ).fetchone()
    # and a (practice, date, definition) group of the results with a single patient
    only_pid, only_practice, only_date, only_def = store.execute(
        """SELECT any_value(r.patient_id), p.practice_id, r.index_date, r.definition_id
           FROM results_patient r JOIN results_population p
             ON p.snapshot_id = r.snapshot_id AND p.patient_id = r.patient_id AND p.index_date = r.index_date
           WHERE r.snapshot_id = ? GROUP BY ALL HAVING count(*) = 1 ORDER BY 2, 3, 4 LIMIT 1""",
        [snap],
    ).fetchone()
    table = _allowed(
        store, "allowed_emptied", "SELECT patient_id FROM patients WHERE patient_id NOT IN (?, ?)", [pid, only_pid]
    )
    everyone = EveryoneCache()
    direct = compute(store, table, method="direct")
    got = compute(store, table, everyone=everyone)
    assert everyone.subtracted == 1
    assert_same(direct, got)
    s = got.strata
    gone = (s["practice_id"] == practice) & (s["age_band"] == age_band) & (s["sex"] == sex)
    assert not gone.any()  # the group is gone, not kept with zeros
    c = got.counts
    assert not (
        (c["practice_id"] == only_practice) & (c["index_date"] == only_date) & (c["definition_id"] == only_def)
    ).any()


def test_a_cohort_leaving_out_most_patients_is_counted_directly(store):
    (practice,) = store.execute("SELECT min(practice_id) FROM patients").fetchone()
    table = _allowed(store, "allowed_one_practice", "SELECT patient_id FROM patients WHERE practice_id = ?", [practice])
    everyone = EveryoneCache()
    direct = compute(store, table, method="direct")
    got = compute(store, table, everyone=everyone)
    assert (everyone.counted, everyone.subtracted) == (0, 0)  # nobody counted everyone for this cohort
    assert_same(direct, got)
    compute(store, "allowed_one_practice", everyone=everyone, method="subtract")  # forced: everyone counted
    assert (everyone.counted, everyone.subtracted) == (1, 1)
    assert_same(direct, compute(store, table, everyone=everyone))  # held, but still too many left out
    assert everyone.subtracted == 1
    assert_same(direct, compute(store, table, everyone=everyone, method="subtract"))


def test_a_cohort_leaving_out_two_fifths_subtracts_only_once_everyone_is_counted(store):
    """Counting everyone costs a direct count: a cohort leaving out 40% does not start it, but uses it once
    another cohort has made it."""
    table = _allowed(store, "allowed_three_fifths", "SELECT patient_id FROM patients WHERE patient_id % 5 >= 2")
    everyone = EveryoneCache()
    direct = compute(store, table, method="direct")
    assert_same(direct, compute(store, table, everyone=everyone))
    assert (everyone.counted, everyone.subtracted) == (0, 0)
    compute(store, _allowed(store, "allowed_all_again", "SELECT patient_id FROM patients"), everyone=everyone)
    assert (everyone.counted, everyone.subtracted) == (1, 1)
    assert_same(direct, compute(store, table, everyone=everyone))
    assert (everyone.counted, everyone.subtracted) == (1, 2)


def test_a_patient_listed_twice_counts_as_the_direct_join_does(store):
    table = _allowed(
        store, "allowed_twice", "SELECT patient_id FROM patients UNION ALL SELECT min(patient_id) FROM patients"
    )
    everyone = EveryoneCache()
    got = compute(store, table, everyone=everyone, method="subtract")
    assert everyone.subtracted == 0
    assert_same(compute(store, table, method="direct"), got)


def test_unknown_method_is_refused(store):
    with pytest.raises(ValueError):
        compute(store, None, method="guess")


IDX = dt.date(2026, 6, 30)


@pytest.fixture
def hand_made(tmp_path):
    """Results written by hand: two patients in one group whose flags are all false (a group with rows but
    zero counts), one patient alone in a group, and one practice with a NULL ethnicity."""
    con = connect(tmp_path / "hand.duckdb")
    create_results_tables(con)
    con.execute("INSERT INTO practices VALUES ('P1','One','N1 1AA','PCN-1','PCN one','Barnet','NCL',5,0,0)")
    for pid in (1, 2, 3, 4):
        con.execute(
            "INSERT INTO patients (patient_id, date_of_birth, sex, practice_id, load_id) "
            "VALUES (?, '1960-01-01', 'F', 'P1', 't')",
            [pid],
        )
    con.execute(
        "INSERT INTO results_runs VALUES ('run1', 'snap1', 'duckdb', TIMESTAMP '2026-07-01 00:00:00', "
        """TIMESTAMP '2026-07-01 00:01:00', '["2026-06-30"]', '{"BP002": "1"}', '{"BP002": "indicator"}', 1.0, 4)"""
    )
    people = [(1, "65-69", "F", "White", 3), (2, "65-69", "F", "White", 3), (3, "65-69", "F", None, 3)]
    people.append((4, "70-74", "M", "Asian or Asian British", 1))
    for pid, band, sex, eth, imd in people:
        con.execute(
            "INSERT INTO results_population VALUES ('snap1', 'run1', ?, ?, 'P1', 66, ?, ?, ?, ?)",
            [IDX, pid, band, sex, eth, imd],
        )
    flags = {1: (False, False, False), 2: (False, False, False), 3: (True, True, False), 4: (True, False, True)}
    for pid, (den, num, exc) in flags.items():
        con.execute(
            "INSERT INTO results_patient VALUES ('BP002', '1', 'snap1', 'run1', ?, ?, 'P1', ?, ?, ?, NULL)",
            [IDX, pid, den, num, exc],
        )
    yield con
    con.close()


@pytest.mark.parametrize(
    "left_out",
    [[1], [3], [1, 2], [4], [3, 4]],
    ids=["zero-counts-group-keeps-a-row", "null-ethnicity", "zero-counts-group-emptied", "only-of-its-group", "two"],
)
def test_hand_made_groups_with_zero_counts_and_null_keys(hand_made, left_out):
    """A group stays while it has rows even when every count is zero (patient 1 of 1-2) and goes with its
    last row (1 and 2): the row count, not the counts, decides."""
    table = _allowed(
        hand_made, "allowed_hand", "SELECT patient_id FROM patients WHERE NOT list_contains(?, patient_id)", [left_out]
    )
    everyone = EveryoneCache()
    got = compute(hand_made, table, everyone=everyone, method="subtract")
    assert everyone.subtracted == 1
    direct = compute(hand_made, table, method="direct")
    assert_same(direct, got)
    zero = direct.strata[
        (direct.strata["definition_id"] == "BP002")
        & (direct.strata["grouping"] == "ethnicity_6")
        & (direct.strata["ethnicity_6"] == "White")
    ]
    if left_out == [1]:
        assert zero[["denominator", "numerator", "exclusions"]].values.tolist() == [[0, 0, 0]]
    if left_out == [1, 2]:
        assert zero.empty
