"""Fixtures for care tests: the operational DB (migrated by Alembic) on SQLite and on the real PostgreSQL
(a unique schema per run, dropped afterwards), governance users and agreements, and a hand-made record store.

Index date 2026-06-30; the flu season then started on 2025-09-01.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pytest
from care_testdata import PASSWORD, build_store  # tests/care is on sys.path (rootdir import mode)
from sqlalchemy.orm import Session

from carecommons.governance import agreements, orgs, relationships, users
from carecommons.governance.agreements import Flow
from carecommons.governance.purposes import Purpose, Requester


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    build_store(c)
    yield c
    c.close()


@dataclass(frozen=True)
class People:
    gp: Requester
    manager: Requester
    manager_p2: Requester
    nurse_mdt: Requester
    social_worker: Requester
    analyst: Requester
    patient: Requester
    carer: Requester
    carer_no_consent: Requester


def _req(user_id: str, role: str, org: str | None, purpose: Purpose = Purpose.DIRECT_CARE) -> Requester:
    return Requester(user_id=user_id, role=role, org_id=org, purpose=purpose)


@pytest.fixture(scope="session")
def _one_hash() -> str:
    return users.hash_password(PASSWORD)


@pytest.fixture
def people(session: Session, con: duckdb.DuckDBPyConnection, monkeypatch, _one_hash: str) -> People:
    """Organisations from the store, one user per role, an MDT agreement and caseload, a consented carer.

    Passwords are hashed once per run (argon2id is deliberately slow); login is not what these tests test.
    """
    monkeypatch.setattr(users, "hash_password", lambda _pw: _one_hash)
    orgs.sync_from_store(session, con)
    orgs.upsert(session, "RAL", "Royal Free London NHS Foundation Trust", "trust", "london")
    orgs.upsert(session, "RRV", "University College London Hospitals", "trust", "london")
    orgs.upsert(session, "CT1", "Community Health Trust", "trust", "london")
    session.commit()
    la = orgs.org_id("local_authority", "Barnet")
    for uid, role, org, extra in (
        ("dr.gp", "gp", "P1", {"display_name": "Dr Grey"}),
        ("pm.one", "practice_manager", "P1", {}),
        ("pm.two", "practice_manager", "P2", {}),
        ("dn.nurse", "mdt_member", "CT1", {"profession": "district_nurse"}),
        ("sw.social", "mdt_member", la, {"profession": "social_worker"}),
        ("an.analyst", "analyst", "icb:NCL", {}),
        ("pt.ann", "patient", None, {"patient_id": 101}),
        ("carer.cal", "carer", None, {}),
        ("carer.nocon", "carer", None, {}),
    ):
        users.create_user(session, uid, PASSWORD, role, org, **extra)
    relationships.grant_carer_proxy(session, 101, "carer.cal")
    for org in ("CT1", la):
        agreements.add_agreement(
            session, f"Barnet MDT {org}", "P1", org, [Purpose.DIRECT_CARE], [Flow.GP_TO_MDT], dt.date(2020, 1, 1)
        )
    relationships.add_to_caseload(session, "dn.nurse", 101, added_by="dr.gp")
    relationships.add_to_caseload(session, "sw.social", 101, added_by="dr.gp")
    # Only one trust shares discharges with P1; RRV has no agreement, so its stay is withheld.
    agreements.add_agreement(
        session,
        "RAL discharges",
        "RAL",
        "P1",
        [Purpose.DIRECT_CARE],
        [Flow.HOSPITAL_TO_DIRECT_CARE],
        dt.date(2020, 1, 1),
    )
    agreements.add_agreement(
        session,
        "Barnet social care",
        la,
        "P1",
        [Purpose.DIRECT_CARE],
        [Flow.SOCIAL_CARE_TO_DIRECT_CARE],
        dt.date(2020, 1, 1),
    )
    session.commit()
    return People(
        gp=_req("dr.gp", "gp", "P1"),
        manager=_req("pm.one", "practice_manager", "P1"),
        manager_p2=_req("pm.two", "practice_manager", "P2"),
        nurse_mdt=_req("dn.nurse", "mdt_member", "CT1"),
        social_worker=_req("sw.social", "mdt_member", la),
        analyst=_req("an.analyst", "analyst", "icb:NCL", Purpose.PLANNING),
        patient=_req("pt.ann", "patient", None),
        carer=_req("carer.cal", "carer", None),
        carer_no_consent=_req("carer.nocon", "carer", None),
    )
