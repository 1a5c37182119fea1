"""The care layer's single door to governance: who may see which patients for direct care.

Every care function that touches a named patient goes through here, so the rule "direct care needs a
legitimate relationship (or break-glass)" is decided in one place, by governance, and never re-implemented.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied
from carecommons.governance.cohort import allowed_patients, check_patient_access
from carecommons.governance.purposes import Purpose, Requester


def require_direct_care(requester: Requester, what: str) -> None:
    """Care pages show identifiable patients: only the direct-care purpose may open them."""
    if requester.purpose != Purpose.DIRECT_CARE:
        raise AccessDenied(
            what,
            f"this needs the direct care purpose, not {requester.purpose.value}",
            "use a direct-care role, or the pseudonymised planning views for population work",
        )


def cohort_table(con: duckdb.DuckDBPyConnection, session: Session, requester: Requester) -> str:
    """The governance temp table of patients this requester may see for direct care."""
    require_direct_care(requester, "patients")
    try:
        return allowed_patients(con, requester, session)
    finally:
        _settle(con)


def allowed_among(
    con: duckdb.DuckDBPyConnection, session: Session, requester: Requester, patient_ids: Iterable[int]
) -> set[int]:
    """The subset of `patient_ids` this requester may see now."""
    ids = sorted({int(p) for p in patient_ids})
    if not ids:
        return set()
    table = cohort_table(con, session, requester)
    rows = con.execute(f"SELECT patient_id FROM {table} WHERE list_contains($ids, patient_id)", {"ids": ids}).fetchall()
    return {int(r[0]) for r in rows}


def require_patient(con: duckdb.DuckDBPyConnection, session: Session, requester: Requester, patient_id: int) -> None:
    """Refuse, naming no patient value, unless the requester may see this patient for direct care.

    Delegates to governance so break-glass raises its alert for exactly this patient.
    """
    require_direct_care(requester, "patient")
    try:
        check_patient_access(con, requester, session, int(patient_id))
    finally:
        _settle(con)


def _settle(con: duckdb.DuckDBPyConnection) -> None:
    """Finish any half-read result governance left on the connection (DuckDB 2 refuses new work,
    e.g. registering a view, while a result from execute() is still open)."""
    con.complete()
