"""Reading results through governance: direct care sees only its patients (audited); planning gets published
aggregates with opt-outs applied at once."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from engine_store import INDEX

from carecommons.core.errors import AccessDenied
from carecommons.core.orgs import OrgLevel
from carecommons.engine import run, synthetic
from carecommons.engine.results import aggregates, patient_results
from carecommons.governance import audit, optouts, orgs, users
from carecommons.governance.agreements import Flow, add_agreement
from carecommons.governance.purposes import Purpose
from carecommons.store.analytics import create_tables
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker

PW = "correct horse battery"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from argon2 import PasswordHasher

    # light argon2 parameters: the production cost would dominate the test (governance tests do the same)
    mp = pytest.MonkeyPatch()
    mp.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    url = f"sqlite:///{tmp_path_factory.mktemp('op') / 'op.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()
    mp.undo()


@pytest.fixture(scope="module")
def store(library):
    con = duckdb.connect(":memory:")
    create_tables(con)
    synthetic.generate(con, library, patients=600, events_per_patient=40, patients_per_practice=100)
    yield con
    con.close()


@pytest.fixture(scope="module")
def world(session, store, library):
    run(store, library, [INDEX], progress=False)
    orgs.sync_from_store(session, store)
    practice = store.execute("SELECT practice_id FROM practices ORDER BY 1 LIMIT 1").fetchone()[0]
    users.create_user(session, "gp", PW, "gp", practice)
    users.create_user(session, "analyst", PW, "analyst", "london")
    add_agreement(
        session, "London planning", "london", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], dt.date(2020, 1, 1)
    )
    return session, store, practice


def req(session, username, purpose):
    return users.requester_for(users.get_user(session, username), purpose)


def test_gp_sees_only_their_registered_patients_and_every_read_is_audited(world):
    session, con, practice = world
    df = patient_results(con, session, req(session, "gp", Purpose.DIRECT_CARE), definition_ids=["HYP_REG", "BP002"])
    assert len(df) > 0
    current = {
        r[0]
        for r in con.execute(
            "SELECT patient_id FROM registrations WHERE practice_id = ? AND end_date IS NULL", [practice]
        ).fetchall()
    }
    assert set(df["patient_id"]) <= current
    assert set(df["practice_id"]) == {practice}
    audited = {e.patient_id for e in audit.entries(session, limit=10_000) if e.action == "engine.patient_results"}
    assert audited == set(df["patient_id"])
    assert audit.verify(session).ok


def test_direct_care_cannot_ask_for_aggregates(world):
    session, con, _ = world
    with pytest.raises(AccessDenied):
        aggregates(con, session, req(session, "gp", Purpose.DIRECT_CARE), "HYP_REG", OrgLevel.PRACTICE)


def test_practice_level_by_sex_is_suppressed_and_rounded(world):
    session, con, _ = world
    df = aggregates(con, session, req(session, "analyst", Purpose.PLANNING), "HYP008", OrgLevel.PRACTICE, "sex")
    assert set(df["level"]) == {"practice_id"}
    published = df["denominator"].dropna()
    assert all(int(v) % 5 == 0 for v in published)
    assert all(int(v) == 0 or int(v) > 7 for v in published)
    assert df["denominator"].isna().any()  # small practices by sex must hide something


def test_planning_aggregates_are_published_and_opt_outs_apply_at_once(world):
    session, con, _ = world
    analyst = req(session, "analyst", Purpose.PLANNING)
    before = aggregates(con, session, analyst, "HYP_REG", OrgLevel.LONDON)
    assert len(before) == 1
    raw_num = con.execute(
        "SELECT numerator FROM results_aggregate WHERE definition_id = 'HYP_REG' AND level = 'london' AND breakdown IS NULL"
    ).fetchone()[0]
    assert int(before["numerator"][0]) % 5 == 0 and abs(int(before["numerator"][0]) - raw_num) <= 2
    on_register = [
        r[0]
        for r in con.execute(
            "SELECT patient_id FROM results_patient WHERE definition_id = 'HYP_REG' AND num ORDER BY 1 LIMIT 10"
        ).fetchall()
    ]
    optouts.record_ndop(session, patient_ids=on_register)
    after = aggregates(con, session, analyst, "HYP_REG", OrgLevel.LONDON)
    assert int(after["numerator"][0]) < int(before["numerator"][0])
