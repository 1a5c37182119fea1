"""The demo seed: every role present, tied to the store's real practices and patients, and usable."""

from __future__ import annotations

from gov_testdata import TODAY

from carecommons.governance import users
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.purposes import Purpose
from carecommons.governance.roles import Role
from carecommons.governance.seed import DEMO_PASSWORD, DEMO_PROJECT_ID, seed_demo
from carecommons.store.models.governance import User


def visible(con, session, username, purpose, **kw):
    r = users.requester_for(users.get_user(session, username), purpose, **kw)
    return {
        x[0] for x in con.execute(f"SELECT patient_id FROM {allowed_patients(con, r, session, today=TODAY)}").fetchall()
    }


def test_seed_creates_a_working_account_for_every_role(session, store):
    seed = seed_demo(session, store, today=TODAY)
    assert seed.password == DEMO_PASSWORD
    roles = {u.role for u in seed.users}
    assert roles == {r.value for r in Role}
    for u in seed.users:
        assert users.authenticate(session, u.username, DEMO_PASSWORD) is not None, u.username
    # The busiest practice in the tiny store is A1 (patients 1, 2, 3 registered now; 8 left).
    assert visible(store, session, "gp.a1", Purpose.DIRECT_CARE) == {1, 2, 3}
    assert visible(store, session, "pm.a2", Purpose.DIRECT_CARE) == {4, 5}
    assert seed.patient_id in {1, 2, 3}
    assert visible(store, session, "patient.demo", Purpose.DIRECT_CARE) == {seed.patient_id}
    assert visible(store, session, "carer.demo", Purpose.DIRECT_CARE) == {seed.patient_id}
    for mdt in ("mdt.districtnurse", "mdt.socialworker", "mdt.carecoord"):
        assert visible(store, session, mdt, Purpose.DIRECT_CARE) == {1, 2, 3}
    # Planning sees all of London except Type 1 opt-outs (2 and 6 in the fixture store).
    assert visible(store, session, "analyst.london", Purpose.PLANNING) == {1, 3, 4, 5, 7, 8}
    assert visible(store, session, "analyst.borough", Purpose.RESEARCH, project_id=DEMO_PROJECT_ID) == {
        1,
        3,
        4,
        5,
        7,
        8,
    }


def test_seed_is_idempotent(session, store):
    first = seed_demo(session, store, today=TODAY)
    second = seed_demo(session, store, today=TODAY)
    assert [u.username for u in first.users] == [u.username for u in second.users]
    assert session.query(User).count() == len(first.users)
