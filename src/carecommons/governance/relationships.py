"""Legitimate relationships beyond registration: MDT caseloads and carers acting with the patient's consent."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput
from carecommons.governance import audit
from carecommons.governance.roles import Role
from carecommons.governance.users import get_user
from carecommons.store.models.governance import CarerProxy, CaseloadEntry, utcnow


def add_to_caseload(session: Session, user_id: str, patient_id: int, added_by: str) -> None:
    """Put a patient on an MDT member's caseload (idempotent; committed)."""
    user = get_user(session, user_id)
    if user.role != Role.MDT_MEMBER.value:
        raise InvalidInput("user_id", f"{user_id!r} is a {user.role}, not an MDT member", "use an MDT member's account")
    exists = session.scalar(
        select(CaseloadEntry.id).where(CaseloadEntry.user_id == user_id, CaseloadEntry.patient_id == patient_id)
    )
    if exists is None:
        session.add(CaseloadEntry(user_id=user_id, patient_id=int(patient_id), added_by=added_by))
        audit.record_change(session, added_by, "caseload_add", [int(patient_id)], f"caseload of {user_id}")


def remove_from_caseload(session: Session, user_id: str, patient_id: int, removed_by: str = "system") -> None:
    gone = session.execute(
        delete(CaseloadEntry).where(CaseloadEntry.user_id == user_id, CaseloadEntry.patient_id == patient_id)
    )
    if gone.rowcount:
        audit.record_change(session, removed_by, "caseload_remove", [int(patient_id)], f"caseload of {user_id}")


def caseload(session: Session, user_id: str) -> list[int]:
    return sorted(session.scalars(select(CaseloadEntry.patient_id).where(CaseloadEntry.user_id == user_id)))


def grant_carer_proxy(session: Session, patient_id: int, carer_user_id: str, actor: str = "patient") -> None:
    """Record the patient's consent for this carer to act for them, from now (committed)."""
    carer = get_user(session, carer_user_id)
    if carer.role != Role.CARER.value:
        raise InvalidInput("carer_user_id", f"{carer_user_id!r} is not a carer account", "use a carer's account")
    if int(patient_id) not in proxied_patients(session, carer_user_id):
        session.add(CarerProxy(patient_id=int(patient_id), carer_user_id=carer_user_id))
        audit.record_change(session, actor, "carer_consent_given", [int(patient_id)], f"carer {carer_user_id}")


def withdraw_carer_proxy(session: Session, patient_id: int, carer_user_id: str, actor: str = "patient") -> None:
    """The patient withdraws consent: effective for the next access check (committed)."""
    for proxy in session.scalars(
        select(CarerProxy).where(
            CarerProxy.patient_id == patient_id,
            CarerProxy.carer_user_id == carer_user_id,
            CarerProxy.consent_withdrawn_at.is_(None),
        )
    ):
        proxy.consent_withdrawn_at = utcnow()
    audit.record_change(session, actor, "carer_consent_withdrawn", [int(patient_id)], f"carer {carer_user_id}")


def proxied_patients(session: Session, carer_user_id: str) -> list[int]:
    """Patients whose consent for this carer currently stands."""
    return sorted(
        set(
            session.scalars(
                select(CarerProxy.patient_id).where(
                    CarerProxy.carer_user_id == carer_user_id, CarerProxy.consent_withdrawn_at.is_(None)
                )
            )
        )
    )
