"""The information-governance lead's opt-out counts: what counts as opted out, per practice, once per store file.

The fixture is a tiny store written by hand; each patient's comment says why they count or not on 2026-06-30.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import duckdb
import pytest

from carecommons.core.errors import AccessDenied
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.analytics import create_tables
from carecommons.web.opt_out_counts import TYPE1_DISSENT, TYPE1_WITHDRAWAL, OptOutCountCache, count_opt_outs
from carecommons.web.planning_access import covered_for_planning

INDEX = dt.date(2026, 6, 30)
DISSENT, WITHDRAW = TYPE1_DISSENT[0], TYPE1_WITHDRAWAL[0]

# patient, practice, start, end, died, [(code, date)]   -> counted at P1/P2 as: registered?, opted out?
PATIENTS = [
    (1, "P1", "2020-01-01", None, None, [(DISSENT, "2025-01-01")]),  # opted out
    (2, "P1", "2020-01-01", None, None, [(DISSENT, "2025-01-01"), (WITHDRAW, "2025-06-01")]),  # withdrew: not
    (3, "P1", "2020-01-01", None, None, [(WITHDRAW, "2024-01-01"), (DISSENT, "2025-01-01")]),  # dissent later: out
    (4, "P1", "2020-01-01", None, None, [(WITHDRAW, "2025-01-01"), (DISSENT, "2025-01-01")]),  # same day: dissent
    (5, "P1", "2020-01-01", None, None, [(DISSENT, "2026-07-01")]),  # after the index date: not yet
    (6, "P1", "2020-01-01", "2026-01-01", None, [(DISSENT, "2025-01-01")]),  # left P1: not registered anywhere
    (7, "P1", "2020-01-01", None, "2026-03-01", [(DISSENT, "2025-01-01")]),  # died: not counted
    (8, "P2", "2020-01-01", None, None, []),  # registered, no code
    (9, "P2", "2021-01-01", None, None, [(DISSENT, "2025-01-01")]),  # also at P1 since 2019 (below): latest is P2
]
EXPECTED = {"P1": (3, 5), "P2": (1, 2)}  # practice -> (opted out, registered)


def _store(path) -> None:
    con = duckdb.connect(str(path))
    create_tables(con)
    for pid, practice, start, end, died, codes in PATIENTS:
        con.execute(
            "INSERT INTO patients (patient_id, date_of_birth, sex, date_of_death, practice_id, load_id) "
            "VALUES (?, DATE '1960-01-01', 'F', ?, ?, 't')",
            [pid, died, practice],
        )
        con.execute(
            "INSERT INTO registrations VALUES (?, ?, ?, ?, 't')", [pid, practice, start, end]
        )  # fmt: skip
        for code, when in codes:
            con.execute(
                "INSERT INTO events (patient_id, practice_id, code, date, load_id) VALUES (?, ?, ?, ?, 't')",
                [pid, practice, code, when],
            )
    con.execute("INSERT INTO registrations VALUES (9, 'P1', DATE '2019-01-01', NULL, 't')")
    for practice, borough, icb in (("P1", "Camden", "NCL"), ("P2", "Hackney", "NEL")):
        con.execute(
            "INSERT INTO practices (practice_id, name, pcn_id, borough, icb) VALUES (?, ?, 'PCN1', ?, ?)",
            [practice, practice, borough, icb],
        )
    con.execute(
        "CREATE TABLE results_runs (run_id VARCHAR, snapshot_id VARCHAR, index_dates VARCHAR, definitions VARCHAR, "
        "kinds VARCHAR, finished_at TIMESTAMP)"
    )
    con.execute(
        "INSERT INTO results_runs VALUES ('r1', 's1', ?, '{}', '{}', now())",
        [json.dumps(["2026-05-31", INDEX.isoformat()])],
    )
    con.close()


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store.duckdb"
    _store(path)
    return path


def test_who_counts_as_opted_out(store):
    con = duckdb.connect(str(store), read_only=True)
    got = {r.practice_id: (r.opted_out, r.registered) for r in count_opt_outs(con, INDEX).itertuples()}
    con.close()
    assert got == EXPECTED


def test_counted_once_per_store_file_and_restricted_per_request(store):
    cache = OptOutCountCache(store)
    first = cache.everyone()
    assert first.index_date == INDEX  # the newest run's latest index date
    assert cache.everyone() is first  # not counted again
    only_p2 = cache.get(("P2",))
    assert list(only_p2.opt_outs["practice_id"]) == ["P2"] and list(only_p2.practices["practice_id"]) == ["P2"]
    assert cache.get(()).opt_outs.empty  # a practice nobody covers is not even a zero

    con = duckdb.connect(str(store))
    con.execute("DELETE FROM events WHERE patient_id = 1")  # a new extract changes the file
    con.close()
    os.utime(store, (store.stat().st_atime, store.stat().st_mtime + 5))
    again = cache.everyone()
    assert again is not first
    assert {r.practice_id: r.opted_out for r in again.opt_outs.itertuples()} == {"P1": 2, "P2": 1}


def test_direct_care_purposes_get_no_population_figures():
    requester = Requester("gp.someone", "gp", "P1", Purpose.DIRECT_CARE)
    with pytest.raises(AccessDenied, match="planning, not direct care"):
        covered_for_planning(None, requester)  # refused before any agreement is read


def test_opt_out_page_does_not_count_a_planning_cohort(as_user, web_env):
    """The IG lead's page reads the opt-out counts, not a cohort count of the engine's results."""
    client = as_user("ig.lead")
    state = client.app.state.cc
    state.aggregates.invalidate()  # no cohort held, so a count for the page would show below
    page = client.get("/governance/opt-outs")
    assert page.status_code == 200
    assert state.aggregates.current() == []
    assert state.opt_out_counts.everyone().index_date.isoformat() in page.text
