"""Hand-made record store for care tests (shared by tests/care and tests/web/test_care_*.py).

Index date 2026-06-30; the flu season then started on 2025-09-01.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from carecommons.care.codes import codelist
from carecommons.store.analytics import create_tables

INDEX = dt.date(2026, 6, 30)
PASSWORD = "correct horse battery staple"


def code(name: str, i: int = 0) -> str:
    """The i-th code (sorted) of a shipped codelist: real codes as test inputs."""
    return sorted(codelist(name).codes)[i]


HYP = code("nhsd-primary-care-domain-refsets-hyp_cod")
HYPRES = code("nhsd-primary-care-domain-refsets-hypres_cod")
DM = code("nhsd-primary-care-domain-refsets-dm_cod")
SYS = code("opensafely-systolic-blood-pressure-qof")
HBA1C = code("opensafely-glycated-haemoglobin-hba1c-tests")
FLU_PROC = code("gm-sde/flu-vaccination.snomed")
FLU_PRODUCT = code("gm-sde/flu-vaccine.snomed")
CANCER = code("nhsd-primary-care-domain-refsets-solid-cancer-diagnosis-codes")


# --- the record store ------------------------------------------------------------------------------------
# Practice P1 (the practice under test) and P2, both in PCN-1, borough Barnet, ICB NCL.
PRACTICES = [
    ("P1", "THE GREEN SURGERY", "PCN-1", "Barnet North PCN", "Barnet", "NCL"),
    ("P2", "Hill Practice", "PCN-1", "Barnet North PCN", "Barnet", "NCL"),
]


@dataclass(frozen=True)
class Pat:
    pid: int
    given: str
    family: str
    dob: dt.date
    sex: str = "F"
    practice: str = "P1"
    reg_end: dt.date | None = None
    died: dt.date | None = None
    nhs: str | None = None


# Who should land on P1's worklist is written next to each patient (by hand, from the rules' definitions).
PATIENTS = [
    Pat(101, "Ann", "Able", dt.date(1966, 1, 1)),  # HYP, last BP 2025-01-10: hyp-bp-review
    Pat(102, "Bob", "Baker", dt.date(1966, 1, 1), sex="M"),  # HYP, systolic 150 in 2026: hyp-bp-uncontrolled
    Pat(103, "Cat", "Cole", dt.date(1941, 1, 1)),  # HYP aged 85, systolic 145, flu given: nothing
    Pat(104, "Dan", "Dale", dt.date(1966, 1, 1), sex="M"),  # HYP resolved, systolic 150: possible-hypertension
    Pat(105, "=Eve", "Eden", dt.date(1986, 1, 1)),  # no HYP, systolic exactly 140: possible-hypertension
    Pat(106, "Fay", "Fox", dt.date(1956, 1, 1)),  # DM, HbA1c 60; flu before season: dm-hba1c-high + flu-65
    Pat(107, "Gus", "Gray", dt.date(1966, 1, 1), practice="P2"),  # HYP, no BP, other practice: not on P1's list
    Pat(108, "Hal", "Hunt", dt.date(1966, 1, 1), reg_end=dt.date(2025, 1, 1)),  # left P1: not listed
    Pat(109, "Ivy", "Ings", dt.date(1966, 1, 1), died=dt.date(2026, 1, 1)),  # died: not listed
    Pat(110, "Jo", "Jones", dt.date(1956, 1, 1), sex="M"),  # 70, flu product in vaccinations table: nothing
]

EVENTS = [
    (101, HYP, dt.date(2020, 5, 1), None),
    (101, SYS, dt.date(2025, 1, 10), 150.0),
    (102, HYP, dt.date(2019, 1, 1), None),
    (102, SYS, dt.date(2026, 3, 1), 150.0),
    (103, HYP, dt.date(2010, 1, 1), None),
    (103, SYS, dt.date(2026, 3, 1), 145.0),
    (103, FLU_PROC, dt.date(2025, 10, 1), None),
    (104, HYP, dt.date(2015, 1, 1), None),
    (104, HYPRES, dt.date(2018, 1, 1), None),
    (104, SYS, dt.date(2026, 2, 1), 150.0),
    (105, SYS, dt.date(2026, 4, 1), 140.0),
    (106, DM, dt.date(2012, 1, 1), None),
    (106, HBA1C, dt.date(2026, 5, 1), 60.0),
    (106, FLU_PROC, dt.date(2025, 8, 15), None),
    (107, HYP, dt.date(2020, 1, 1), None),
    (108, HYP, dt.date(2020, 1, 1), None),
    (109, HYP, dt.date(2020, 1, 1), None),
]
VACCINATIONS = [(110, FLU_PRODUCT, dt.date(2025, 11, 1))]
HOSPITAL = [
    ("H-1", "RAL", dt.date(2026, 2, 1), dt.date(2026, 2, 6), CANCER, "Usual place of residence"),
    ("H-2", "RRV", dt.date(2025, 7, 1), dt.date(2025, 7, 2), None, "Care home"),
]
SOCIAL = [("S-1", "Barnet", "Home care", dt.date(2026, 2, 10), None)]
# person_index rows (person_id = smallest GP patient_id of the person, as identity writes it)
PERSON_INDEX = [
    (101, "gp", "101", 101),
    (101, "hospital", "H-1", 101),
    (101, "hospital", "H-2", 101),
    (101, "social_care", "S-1", 101),
]


def build_store(con: duckdb.DuckDBPyConnection, with_person_index: bool = True) -> None:
    create_tables(con)
    for row in PRACTICES:
        con.execute("INSERT INTO practices VALUES (?, ?, NULL, ?, ?, ?, ?, 1000, NULL, NULL)", list(row))
    for p in PATIENTS:
        con.execute(
            "INSERT INTO patients (patient_id, nhs_number, given_name, family_name, date_of_birth, sex, date_of_death,"
            " practice_id, load_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'L1')",
            [p.pid, p.nhs, p.given, p.family, p.dob, p.sex, p.died, p.practice],
        )
        con.execute(
            "INSERT INTO registrations VALUES (?, ?, DATE '2000-01-01', ?, 'L1')", [p.pid, p.practice, p.reg_end]
        )
    for pid, c, d, v in EVENTS:
        practice = next(p.practice for p in PATIENTS if p.pid == pid)
        con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 'L1')",
            [pid, practice, c, d, v, "mm[Hg]" if c == SYS else ("mmol/mol" if c == HBA1C else None)],
        )
    for pid, c, d in VACCINATIONS:
        con.execute("INSERT INTO vaccinations VALUES (?, 'P1', ?, ?, 'L1')", [pid, c, d])
    for rid, trust, adm, dis, diag, dest in HOSPITAL:
        con.execute(
            "INSERT INTO hospital_records (record_id, trust_code, admission_date, discharge_date, diagnosis_code,"
            " discharge_destination, load_id) VALUES (?, ?, ?, ?, ?, ?, 'L1')",
            [rid, trust, adm, dis, diag, dest],
        )
    for rid, la, service, start, end in SOCIAL:
        con.execute(
            "INSERT INTO social_care_records (record_id, local_authority, service_type, start_date, end_date, load_id)"
            " VALUES (?, ?, ?, ?, ?, 'L1')",
            [rid, la, service, start, end],
        )
    if with_person_index:
        # identity.person_index.PERSON_INDEX's columns (the identity layer owns and writes this table).
        con.execute(
            "CREATE TABLE person_index (person_id BIGINT NOT NULL, feed VARCHAR NOT NULL, record_id VARCHAR NOT NULL,"
            " patient_id BIGINT, method VARCHAR NOT NULL, match_probability DOUBLE, match_weight DOUBLE,"
            " run_id VARCHAR NOT NULL)"
        )
        con.executemany(
            "INSERT INTO person_index VALUES (?, ?, ?, ?, 'probabilistic', 0.99, 12.0, 'run-1')", PERSON_INDEX
        )


@dataclass(frozen=True)
class CareWebEnv:
    """A record store with names and linked hospital/social-care rows, plus governance's demo seed over it."""

    store: str
    url: str
    password: str
    users: dict[str, tuple[str, str | None]]
    patient_id: int | None


def make_care_web_env(root) -> CareWebEnv:
    """Used by tests/web/test_care_*.py (TestClient and Playwright): P1 is the busiest practice, so the
    demo GP, practice manager and MDT caseload are all at P1; the demo patient is one of P1's oldest."""
    from pathlib import Path

    from carecommons.governance.seed import DEMO_PASSWORD, seed_demo
    from carecommons.store.migrate import upgrade
    from carecommons.store.operational import make_engine, make_sessionmaker

    root = Path(root)
    store = root / "care-store.duckdb"
    con = duckdb.connect(str(store))
    try:
        build_store(con)
    finally:
        con.close()
    url = f"sqlite:///{root / 'care-operational.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    con = duckdb.connect(str(store), read_only=True)
    try:
        with make_sessionmaker(engine)() as session:
            seed = seed_demo(session, con)
            # One trust shares discharges with the borough's services; RRV has no agreement (withheld on the page).
            import datetime as _dt

            from carecommons.governance import agreements, orgs, users
            from carecommons.governance.agreements import Flow
            from carecommons.governance.purposes import Purpose

            users.create_user(session, "carer.nocon", DEMO_PASSWORD, "carer", None, "A carer nobody has consented to")
            orgs.upsert(session, "RAL", "Royal Free London NHS Foundation Trust", "trust", "london")
            orgs.upsert(session, "RRV", "University College London Hospitals", "trust", "london")
            session.commit()
            agreements.add_agreement(
                session, "Royal Free discharges", "RAL", "borough:Barnet", [Purpose.DIRECT_CARE],
                [Flow.HOSPITAL_TO_DIRECT_CARE], _dt.date(2020, 1, 1),
            )  # fmt: skip
    finally:
        con.close()
        engine.dispose()
    return CareWebEnv(
        str(store), url, DEMO_PASSWORD, {u.username: (u.role, u.org_id) for u in seed.users}, seed.patient_id
    )
