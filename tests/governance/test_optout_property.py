"""Property: no opted-out patient ever contributes to a planning output, however the opt-outs were recorded.

Each example builds a real DuckDB record store and a real operational database (SQLite, migrated schema
via the models) and compares the engine-facing view and a published aggregate with an independent
reckoning of who opted out.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from gov_testdata import TODAY, build_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecommons.core.nhs_number import check_digit
from carecommons.governance import optouts, orgs, users
from carecommons.governance.agreements import Flow, add_agreement
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.disclosure import Hierarchy, publish
from carecommons.governance.purposes import Purpose
from carecommons.store.models import Base
from carecommons.store.operational import make_engine, make_sessionmaker

DISSENT, WITHDRAW, READ_DISSENT = "827241000000103", "827261000000102", "9Nu0"


def nhs_number(pid: int) -> str:
    """A valid NHS number per patient, made with the core Modulus-11 rule."""
    base = 400_000_000 + pid * 7
    while check_digit(str(base)) is None:
        base += 1
    return f"{base}{check_digit(str(base))}"


patient = st.fixed_dictionaries(
    {
        "practice": st.sampled_from(["A1", "A2", "B1"]),
        "codes": st.lists(
            st.tuples(st.sampled_from([DISSENT, WITHDRAW, READ_DISSENT]), st.integers(0, 3000)), max_size=3
        ),
        "ndop_by_number": st.booleans(),
        "ndop_by_id": st.booleans(),
        "choices": st.lists(st.tuples(st.sampled_from(["type1", "ndop"]), st.booleans()), max_size=3),
    }
)


def expected_opted_out(pid: int, p: dict) -> bool:
    """Independent reading of the rules: latest Type 1 code (dissent wins a tie), NDOP, latest choice per kind."""
    dissent = [d for c, d in p["codes"] if c in (DISSENT, READ_DISSENT)]
    withdraw = [d for c, d in p["codes"] if c == WITHDRAW]
    type1 = bool(dissent) and (not withdraw or max(dissent) >= max(withdraw))
    latest: dict[str, bool] = {}
    for kind, opted in p["choices"]:
        latest[kind] = opted
    return type1 or p["ndop_by_number"] or p["ndop_by_id"] or any(latest.values())


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(patient, min_size=1, max_size=25))
def test_opted_out_patients_never_reach_planning_outputs(fast_password_hashing, people):
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    con = duckdb.connect(":memory:")
    try:
        rows = [(i + 1, nhs_number(i + 1), p["practice"]) for i, p in enumerate(people)]
        day0 = dt.date(2015, 1, 1)
        events = [(i + 1, code, day0 + dt.timedelta(days=d)) for i, p in enumerate(people) for code, d in p["codes"]]
        build_store(con, patients=rows, events=events)
        with make_sessionmaker(engine)() as session:
            orgs.sync_from_store(session, con)
            users.create_user(session, "analyst", "a long password", "analyst", "london")
            add_agreement(
                session, "L", "london", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], dt.date(2026, 1, 1)
            )
            optouts.record_ndop(
                session, nhs_numbers=[n for (i, n, _), p in zip(rows, people, strict=True) if p["ndop_by_number"]]
            )
            optouts.record_ndop(
                session, patient_ids=[i for (i, _, _), p in zip(rows, people, strict=True) if p["ndop_by_id"]]
            )
            for (pid, _n, _pr), p in zip(rows, people, strict=True):
                for kind, opted in p["choices"]:
                    optouts.set_patient_choice(session, pid, kind, opted, recorded_by="patient")
            r = users.requester_for(users.get_user(session, "analyst"), Purpose.PLANNING)
            table = allowed_patients(con, r, session, today=TODAY)

        opted = {pid for (pid, _n, _pr), p in zip(rows, people, strict=True) if expected_opted_out(pid, p)}
        allowed = {x[0] for x in con.execute(f"SELECT patient_id FROM {table}").fetchall()}
        assert allowed.isdisjoint(opted)
        assert allowed == {pid for pid, _n, _p in rows} - opted

        # A planning aggregate built on the view counts exactly the patients who did not opt out.
        agg = con.execute(
            f"SELECT p.practice_id, count(*) AS n FROM patients p JOIN {table} a USING (patient_id) GROUP BY ALL"
        ).df()
        truth = pd.Series([pr for pid, _n, pr in rows if pid not in opted]).value_counts()
        assert dict(zip(agg["practice_id"], agg["n"], strict=True)) == {k: int(v) for k, v in truth.items()}
        published = publish(agg, ["n"], Hierarchy(levels=["practice_id"]))
        for shown, true in zip(published["n"], agg["n"], strict=True):
            assert shown is pd.NA or abs(shown - true) <= 2
    finally:
        con.close()
        engine.dispose()
