"""The patient and carer portal: my record, my care plan, my data-sharing choices, who looked and why.

A patient acts for themselves; a carer acts as proxy only for patients who recorded their consent
(governance decides both, in `allowed_patients`). Opt-out choices are written through governance and
take effect on the very next access check anywhere in the platform, because nothing caches them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
from sqlalchemy.orm import Session

from carecommons.care.access import require_patient
from carecommons.care.record import PatientRecord, patient_record
from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit, optouts, relationships
from carecommons.governance.optouts import ChoiceKind
from carecommons.governance.purposes import Requester
from carecommons.governance.roles import Role
from carecommons.store.models.governance import Organisation, User

PORTAL_ROLES = (Role.PATIENT.value, Role.CARER.value)

#: What each audited action means, in words a patient understands.
ACTION_TEXT: dict[str, str] = {
    "record.view": "Looked at your record",
    "worklist.view": "Saw you on a practice worklist (who is due a check-up)",
    "worklist.export": "Downloaded a practice worklist that includes you",
    "invite.batch": "Sent you an invitation",
    "care_plan.create": "Started a care plan with you",
    "care_plan.view": "Looked at your care plan",
    "care_plan.update": "Updated your care plan",
    "task.create": "Asked a colleague to do something for your care",
    "task.view": "Looked at a task about your care",
    "task.status": "Updated a task about your care",
    "task.handover": "Passed a task about your care to a colleague",
    "task.comment": "Added a note to a task about your care",
    "task.inbox": "Saw a task about your care in their list",
    "task.sent": "Saw a task about your care in their list",
    "task.patient": "Looked at tasks about your care",
    "break_glass": "Emergency access to your record (break-glass): reviewed by the information governance team",
    "optout.set": "Changed your data-sharing choices",
    "caseload.view": "Saw you on their caseload list",
    "patient.search": "Found you in a patient search",
    "engine.patient_results": "Checked your results against the shared health indicators",
}

PURPOSE_TEXT = {
    "direct_care": "your care",
    "planning": "planning health services (your identity hidden)",
    "research": "approved research (your identity hidden)",
}

CHOICE_TEXT = {
    ChoiceKind.TYPE1.value: "Type 1 opt-out: your GP record is not shared for purposes beyond your own care",
    ChoiceKind.NDOP.value: "National Data Opt-out: your confidential data is not used for research and planning",
}


def _require_portal_user(requester: Requester) -> None:
    if requester.role not in PORTAL_ROLES:
        raise AccessDenied("portal", "the portal is for patients and their carers", "use the professional pages")


def patients_for(session: Session, requester: Requester, own_patient_id: int | None) -> list[int]:
    """The records this portal user may open: their own (patient) or those who consented (carer)."""
    _require_portal_user(requester)
    if requester.role == Role.PATIENT.value:
        return [own_patient_id] if own_patient_id is not None else []
    return relationships.proxied_patients(session, requester.user_id)


def summary(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    *,
    index_date: dt.date | None = None,
) -> PatientRecord:
    """The patient's record summary and care plan; a carer without recorded consent is refused."""
    _require_portal_user(requester)
    return patient_record(con, session, requester, patient_id, index_date=index_date)


@dataclass(frozen=True)
class Choice:
    kind: str
    label: str
    opted_out: bool
    changed_at: dt.datetime | None
    changed_by: str | None


def choices(con: duckdb.DuckDBPyConnection, session: Session, requester: Requester, patient_id: int) -> list[Choice]:
    """The patient's current data-sharing choices (latest of each kind wins), for the choices page."""
    _require_portal_user(requester)
    require_patient(con, session, requester, patient_id)
    latest = {}
    for c in optouts.patient_choices(session, int(patient_id)):
        latest[c.kind] = c
    out = []
    for kind in (ChoiceKind.TYPE1.value, ChoiceKind.NDOP.value):
        c = latest.get(kind)
        out.append(
            Choice(
                kind=kind,
                label=CHOICE_TEXT[kind],
                opted_out=bool(c.opted_out) if c else False,
                changed_at=c.recorded_at if c else None,
                changed_by=c.recorded_by if c else None,
            )
        )
    return out


def set_choice(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    kind: str,
    opted_out: bool,
) -> None:
    """Set or withdraw an opt-out for the patient (by the patient, or a consented carer); effective at once."""
    _require_portal_user(requester)
    if kind not in CHOICE_TEXT:
        raise InvalidInput("kind", f"{kind!r} is not a data-sharing choice", f"use one of {', '.join(CHOICE_TEXT)}")
    require_patient(con, session, requester, patient_id)
    optouts.set_patient_choice(session, int(patient_id), kind, opted_out, recorded_by=requester.user_id)
    audit.record(
        session,
        requester,
        "optout.set",
        [int(patient_id)],
        detail=f"kind={kind} opted_out={'yes' if opted_out else 'no'}",
    )


@dataclass(frozen=True)
class AccessLogEntry:
    at: dt.datetime
    who: str
    role: str
    organisation: str
    what: str
    why: str
    is_self: bool


#: Entries per page of the access log: enough to read on a phone without scrolling for ever.
ACCESS_LOG_PAGE_SIZE = 50


@dataclass(frozen=True)
class AccessLog:
    """One page of the access log, newest first, and where it sits among the rest."""

    entries: list[AccessLogEntry]
    page: int
    pages: int
    total: int
    per_page: int


def access_log(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    page: int = 1,
    per_page: int = ACCESS_LOG_PAGE_SIZE,
) -> AccessLog:
    """Who did what with the patient's record and why, newest first, from the governance audit chain, one
    page at a time (every worklist that lists a patient adds an entry, so a log can run to thousands).

    Reading the log is not itself logged as a record view (it would grow with every look at it).
    """
    _require_portal_user(requester)
    require_patient(con, session, requester, patient_id)
    if not isinstance(page, int) or page < 1:
        raise InvalidInput("page", f"{page!r} is not a page number", "use a whole number from 1")
    if not isinstance(per_page, int) or not 1 <= per_page <= 500:
        raise InvalidInput("per_page", f"{per_page!r} entries per page", "use 1 to 500")
    total = audit.count_for_patient(session, int(patient_id))
    pages = max(1, -(-total // per_page))
    if page > pages:
        raise InvalidInput("page", f"page {page} is past the last page ({pages})", f"use a page from 1 to {pages}")
    users: dict[str, User | None] = {}
    orgs: dict[str, Organisation | None] = {}
    out = []
    rows = audit.entries_for_patient(
        session, int(patient_id), newest_first=True, limit=per_page, offset=(page - 1) * per_page
    )
    for e in rows:
        if e.user_id not in users:
            users[e.user_id] = session.get(User, e.user_id)
        user = users[e.user_id]
        org_name = ""
        if e.org_id:
            if e.org_id not in orgs:
                orgs[e.org_id] = session.get(Organisation, e.org_id)
            org = orgs[e.org_id]
            org_name = getattr(org, "name", None) or e.org_id
        out.append(
            AccessLogEntry(
                at=e.at,
                who=(user.display_name if user and user.display_name else e.user_id),
                role=e.role.replace("_", " "),
                organisation=org_name,
                what=ACTION_TEXT.get(e.action, e.action.replace(".", " ").replace("_", " ")),
                why=PURPOSE_TEXT.get(e.purpose, e.purpose),
                is_self=e.user_id == requester.user_id,
            )
        )
    return AccessLog(entries=out, page=page, pages=pages, total=total, per_page=per_page)
