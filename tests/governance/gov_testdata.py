"""Hand-made practices and patients for governance tests (imported by name: a module called conftest is
ambiguous when several test folders run together)."""

from __future__ import annotations

import datetime as dt

import duckdb

from carecommons.store.analytics import create_tables

TODAY = dt.date(2026, 11, 1)

# --- a tiny record store ---------------------------------------------------------------------------------
# Practices A1, A2 in PCN-A (borough Alpha, ICB NCL); B1 in PCN-B (borough Beta, ICB SEL).
PRACTICES = [
    ("A1", "Alpha One", "PCN-A", "Alpha North PCN", "Alpha", "NCL"),
    ("A2", "Alpha Two", "PCN-A", "Alpha North PCN", "Alpha", "NCL"),
    ("B1", "Beta One", "PCN-B", "Beta PCN", "Beta", "SEL"),
]
# patient_id, nhs_number, practice (registration current unless noted)
PATIENTS = [
    (1, "9434765919", "A1"),
    (2, "9434765870", "A1"),
    (3, None, "A1"),
    (4, "4010232137", "A2"),
    (5, None, "A2"),
    (6, None, "B1"),
    (7, None, "B1"),
    (8, None, "A1"),  # left A1 in 2020: not a current registration
]
TYPE1 = "827241000000103"
WITHDRAW = "827261000000102"


def build_store(con: duckdb.DuckDBPyConnection, patients=PATIENTS, events=()) -> None:
    """Fill the canonical tables with hand-made rows (events: (patient_id, code, date))."""
    create_tables(con)
    for pid, name, pcn, pcn_name, borough, icb in PRACTICES:
        con.execute(
            "INSERT INTO practices VALUES (?, ?, NULL, ?, ?, ?, ?, 1000, NULL, NULL)",
            [pid, name, pcn, pcn_name, borough, icb],
        )
    for patient_id, nhs, practice in patients:
        con.execute(
            "INSERT INTO patients (patient_id, nhs_number, date_of_birth, sex, practice_id, load_id) "
            "VALUES (?, ?, DATE '1950-01-01' + INTERVAL (?) DAY, 'F', ?, 'L1')",
            [patient_id, nhs, patient_id * 400, practice],
        )
        end = dt.date(2020, 6, 30) if patient_id == 8 else None
        con.execute("INSERT INTO registrations VALUES (?, ?, DATE '2001-01-01', ?, 'L1')", [patient_id, practice, end])
    for pid, code, date in events:
        practice = next(p for i, _n, p in patients if i == pid)
        con.execute("INSERT INTO events VALUES (?, ?, ?, ?, NULL, NULL, 'L1')", [pid, practice, code, date])
