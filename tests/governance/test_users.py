"""Accounts: argon2id hashes, authentication that never says which part was wrong, requesters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.governance import orgs, users
from carecommons.governance.purposes import Purpose
from carecommons.store.models.governance import User

PW = "correct horse battery"


@pytest.fixture
def gp(session, store):
    orgs.sync_from_store(session, store)
    return users.create_user(session, "gp.a1", PW, "gp", "A1", display_name="Dr A")


def test_password_is_stored_as_argon2id_not_plaintext(session, gp):
    stored = session.get(User, "gp.a1").password_hash
    assert stored.startswith("$argon2id$") and PW not in stored


def test_authenticate_accepts_the_right_password_only(session, gp):
    assert users.authenticate(session, "gp.a1", PW).user_id == "gp.a1"
    assert users.authenticate(session, "gp.a1", PW + "!") is None
    assert users.authenticate(session, "nobody", PW) is None
    assert users.authenticate(session, "", PW) is None


def test_deactivated_accounts_cannot_log_in(session, gp):
    users.deactivate(session, "gp.a1")
    assert users.authenticate(session, "gp.a1", PW) is None


def test_set_password_replaces_the_old_one(session, gp):
    users.set_password(session, "gp.a1", "another long secret")
    assert users.authenticate(session, "gp.a1", PW) is None
    assert users.authenticate(session, "gp.a1", "another long secret") is not None


def test_weak_hashes_are_upgraded_on_login(session, gp, monkeypatch):
    strong = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(users, "_HASHER", strong)
    before = session.get(User, "gp.a1").password_hash
    assert users.authenticate(session, "gp.a1", PW) is not None
    after = session.get(User, "gp.a1").password_hash
    assert after != before and "t=2" in after and not strong.check_needs_rehash(after)


def test_production_hasher_round_trips():
    from argon2 import PasswordHasher as Default

    h = Default().hash(PW)
    assert Default().verify(h, PW)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(username="x y", password=PW, role="gp", org_id="A1"), "username"),
        (dict(username="gp.b", password="short", role="gp", org_id="A1"), "password"),
        (dict(username="gp.b", password=PW, role="wizard", org_id="A1"), "role"),
        (dict(username="gp.b", password=PW, role="gp", org_id=None), "org_id"),
        (dict(username="pat", password=PW, role="patient", org_id=None), "patient_id"),
        (dict(username="gp.a1", password=PW, role="gp", org_id="A1"), "username"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(session, gp, kwargs, field):
    with pytest.raises(InvalidInput) as info:
        users.create_user(session, **kwargs)
    assert info.value.input_name == field


def test_requester_carries_the_accounts_role_and_organisation(session, gp):
    r = users.requester_for(gp, Purpose.DIRECT_CARE, break_glass_reason="emergency admission")
    assert (r.user_id, r.role, r.org_id, r.purpose, r.break_glass_reason) == (
        "gp.a1",
        "gp",
        "A1",
        Purpose.DIRECT_CARE,
        "emergency admission",
    )
    with pytest.raises(NotFound):
        users.get_user(session, "nobody")
