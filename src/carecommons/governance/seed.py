"""Demo governance data tied to the practices and patients actually in the record store.

The web and care layers need users of every role to show what each sees; making them from the store
(not fixtures) means the demo patient is a real synthetic patient and the GP's list is a real list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput
from carecommons.governance import orgs
from carecommons.governance.agreements import Flow, add_agreement
from carecommons.governance.orgs import OrgType, org_id
from carecommons.governance.purposes import Purpose
from carecommons.governance.relationships import add_to_caseload, grant_carer_proxy
from carecommons.governance.research import approve_project, create_project
from carecommons.governance.roles import Profession, Role
from carecommons.governance.users import hash_password
from carecommons.store.models.governance import Agreement, ResearchProject, User

#: Printed by `carecommons demo`; every demo account shares it.
DEMO_PASSWORD = "carecommons-demo"
DEMO_PROJECT_ID = "RP-DEMO-001"
CASELOAD_SIZE = 20


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    org_id: str | None
    description: str


@dataclass(frozen=True)
class DemoSeed:
    password: str
    users: list[DemoUser]
    patient_id: int | None


def _busiest_practices(con: duckdb.DuckDBPyConnection, n: int) -> list[tuple[str, str, str, str]]:
    return con.execute(
        """SELECT p.practice_id, p.pcn_id, p.borough, p.icb
           FROM practices p JOIN (SELECT practice_id, count(*) AS n FROM patients GROUP BY practice_id) c
           USING (practice_id) ORDER BY c.n DESC, p.practice_id LIMIT ?""",
        [n],
    ).fetchall()


def _registered_patients(con: duckdb.DuckDBPyConnection, practice_id: str, n: int, today: dt.date) -> list[int]:
    """Living patients currently registered, oldest first (MDT caseloads are mostly older people)."""
    rows = con.execute(
        """SELECT DISTINCT p.patient_id, p.date_of_birth FROM patients p JOIN registrations r USING (patient_id)
           WHERE r.practice_id = ? AND r.start_date <= ? AND (r.end_date IS NULL OR r.end_date >= ?)
             AND p.date_of_death IS NULL
           ORDER BY p.date_of_birth, p.patient_id LIMIT ?""",
        [practice_id, today, today, n],
    ).fetchall()
    return [int(r[0]) for r in rows]


def seed_demo(session: Session, con: duckdb.DuckDBPyConnection, today: dt.date | None = None) -> DemoSeed:
    """Create (idempotently) organisations, one or more users per role, relationships, agreements and an
    approved research project, all anchored on the three practices with most patients in the store."""
    today = today or dt.date.today()
    orgs.sync_from_store(session, con)
    practices = _busiest_practices(con, 3)
    if not practices:
        raise InvalidInput("record store", "has no patients", "run `carecommons synth` and `carecommons ingest` first")
    p1, pcn, borough, icb = practices[0]
    borough_org, icb_org, la_org = (
        org_id(OrgType.BOROUGH, borough),
        org_id(OrgType.ICB, icb),
        org_id(OrgType.LOCAL_AUTHORITY, borough),
    )
    caseload_ids = _registered_patients(con, p1, CASELOAD_SIZE + 1, today)
    patient_id = caseload_ids[-1] if caseload_ids else None

    specs: list[tuple[str, Role, str | None, str | None, int | None, str]] = []
    for i, (practice, *_rest) in enumerate(practices):
        low = practice.lower()
        specs.append((f"gp.{low}", Role.GP, practice, None, None, f"GP at {practice}"))
        specs.append((f"pm.{low}", Role.PRACTICE_MANAGER, practice, None, None, f"Practice manager at {practice}"))
        if i == 0:
            specs.append((f"nurse.{low}", Role.NURSE, practice, None, None, f"Practice nurse at {practice}"))
            specs.append((f"pharm.{low}", Role.PHARMACIST, practice, None, None, f"Pharmacist at {practice}"))
    specs += [
        ("mdt.districtnurse", Role.MDT_MEMBER, pcn, Profession.DISTRICT_NURSE, None, f"District nurse, {pcn}"),
        ("mdt.carecoord", Role.MDT_MEMBER, pcn, Profession.CARE_COORDINATOR, None, f"Care coordinator, {pcn}"),
        ("mdt.socialworker", Role.MDT_MEMBER, la_org, Profession.SOCIAL_WORKER, None, f"Social worker, {borough}"),
        ("analyst.pcn", Role.ANALYST, pcn, None, None, f"PCN analyst, {pcn}"),
        ("analyst.borough", Role.ANALYST, borough_org, None, None, f"Borough analyst, {borough}"),
        ("analyst.icb", Role.ANALYST, icb_org, None, None, f"ICS analyst, {icb}"),
        ("analyst.london", Role.ANALYST, orgs.LONDON_ORG_ID, None, None, "London team analyst"),
        ("lead.icb", Role.CLINICAL_LEAD, icb_org, None, None, f"Clinical lead, {icb}"),
        ("ig.lead", Role.IG_LEAD, icb_org, None, None, f"Information-governance lead, {icb}"),
        ("operator", Role.OPERATOR, orgs.LONDON_ORG_ID, None, None, "Platform operator"),
    ]
    if patient_id is not None:
        specs.append(("patient.demo", Role.PATIENT, None, None, patient_id, f"A patient registered at {p1}"))
        specs.append(("carer.demo", Role.CARER, None, None, None, "Carer acting for patient.demo with consent"))

    password_hash = hash_password(DEMO_PASSWORD)  # one hash: every demo account shares the password
    for username, role, org, profession, pid, description in specs:
        if session.get(User, username) is None:
            session.add(
                User(
                    user_id=username,
                    password_hash=password_hash,
                    display_name=description,
                    role=role.value,
                    org_id=org,
                    profession=profession.value if profession else None,
                    patient_id=pid,
                    active=True,
                )
            )
    session.commit()

    for member in ("mdt.districtnurse", "mdt.carecoord", "mdt.socialworker"):
        for pid in caseload_ids[:CASELOAD_SIZE]:
            add_to_caseload(session, member, pid, added_by=f"gp.{p1.lower()}")
    if patient_id is not None:
        grant_carer_proxy(session, patient_id, "carer.demo")

    existing = set(session.scalars(select(Agreement.name)))
    start = dt.date(today.year, 1, 1)
    wanted = [
        (
            f"{borough} integrated care (MDT) agreement",
            borough_org,
            borough_org,
            [Purpose.DIRECT_CARE],
            [Flow.GP_TO_MDT, Flow.SOCIAL_CARE_TO_DIRECT_CARE, Flow.HOSPITAL_TO_DIRECT_CARE],
        ),
        (
            "London secondary-use agreement",
            orgs.LONDON_ORG_ID,
            orgs.LONDON_ORG_ID,
            [Purpose.PLANNING, Purpose.RESEARCH],
            [Flow.GP_TO_PLANNING, Flow.GP_TO_RESEARCH],
        ),
    ]
    for name, from_org, to_org, purposes, flows in wanted:
        if name not in existing:
            add_agreement(session, name, from_org, to_org, purposes, flows, valid_from=start)
    if session.get(ResearchProject, DEMO_PROJECT_ID) is None:
        create_project(session, DEMO_PROJECT_ID, "Frailty and unplanned admissions in London (demo)", icb_org)
        approve_project(session, DEMO_PROJECT_ID, approved_by="ig.lead", expires_on=dt.date(today.year + 2, 12, 31))

    users = [DemoUser(u, r.value, o, d) for u, r, o, _p, _pid, d in specs]
    return DemoSeed(password=DEMO_PASSWORD, users=users, patient_id=patient_id)
