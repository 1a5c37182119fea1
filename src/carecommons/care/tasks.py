"""Tasks between professionals across health and social care, with status, due dates and history.

A task is addressed to a named user, to a role within an organisation ("any district nurse at the
community trust") or to an organisation's team inbox. Only the sender or a current addressee may move
it on; every change is appended to the task's history and to the governance audit chain. Writes carry
the version the user saw, so two people acting on one task cannot silently undo each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from carecommons.care.access import require_direct_care, require_patient
from carecommons.care.errors import EditConflict
from carecommons.core.errors import AccessDenied, InvalidInput, NotFound
from carecommons.governance.audit import record as audit_record
from carecommons.governance.purposes import Requester
from carecommons.store.models.care import TASK_STATUSES, Task, TaskEvent, utcnow

#: Which status may follow which. Done can be reopened (the job turned out unfinished); cancelled is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "done", "cancelled"}),
    "in_progress": frozenset({"open", "done", "cancelled"}),
    "done": frozenset({"open"}),
    "cancelled": frozenset(),
}
ACTIVE_STATUSES = ("open", "in_progress")


def _check_addressee(to_user_id: str | None, to_role: str | None, to_org_id: str | None) -> None:
    if not (to_user_id or to_role or to_org_id):
        raise InvalidInput(
            "to", "the task has no addressee", "choose a person, or a role and organisation, or a team to send it to"
        )
    if to_role and not to_org_id and not to_user_id:
        raise InvalidInput("to_org_id", "a role without an organisation could be anyone", "choose the organisation too")


def is_addressee(task: Task, requester: Requester) -> bool:
    """True when the task is in this requester's inbox (named, by role at their organisation, or team)."""
    if task.to_user_id:
        return task.to_user_id == requester.user_id
    if task.to_org_id and task.to_org_id != requester.org_id:
        return False
    return task.to_role is None or task.to_role == requester.role


def _may_act(task: Task, requester: Requester) -> bool:
    return task.from_user_id == requester.user_id or is_addressee(task, requester)


def create_task(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    title: str,
    *,
    to_user_id: str | None = None,
    to_role: str | None = None,
    to_org_id: str | None = None,
    due_date: dt.date | None = None,
    detail: str = "",
    care_plan_id: int | None = None,
) -> Task:
    """Send a task about a patient the requester cares for."""
    require_patient(con, session, requester, patient_id)
    if not title.strip():
        raise InvalidInput("title", "the task has no title", "say in a few words what needs doing")
    _check_addressee(to_user_id, to_role, to_org_id)
    task = Task(
        patient_id=int(patient_id),
        care_plan_id=care_plan_id,
        title=title.strip(),
        detail=detail.strip(),
        from_user_id=requester.user_id,
        from_role=requester.role,
        from_org_id=requester.org_id,
        to_user_id=to_user_id or None,
        to_role=to_role or None,
        to_org_id=to_org_id or None,
        status="open",
        due_date=due_date,
    )
    task.history.append(
        TaskEvent(by_user_id=requester.user_id, by_role=requester.role, kind="created", to_status="open")
    )
    session.add(task)
    session.flush()
    audit_record(session, requester, "task.create", [task.patient_id], detail=f"task={task.id}")
    return task


def _load(session: Session, task_id: int) -> Task:
    task = session.execute(
        select(Task)
        .where(Task.id == task_id)
        .options(selectinload(Task.history))
        .execution_options(populate_existing=True)  # the version in the DB, not a stale cached copy
    ).scalar_one_or_none()
    if task is None:
        raise NotFound("task", f"no task {task_id}", "open your task list to find it")
    return task


def get_task(session: Session, requester: Requester, task_id: int) -> Task:
    """A task with its history, for its sender or addressee only; audited."""
    require_direct_care(requester, "task")
    task = _load(session, task_id)
    if not _may_act(task, requester):
        raise AccessDenied("task", "it was not sent by you or to you", "ask the sender to hand it over to you")
    audit_record(session, requester, "task.view", [task.patient_id], detail=f"task={task.id}")
    return task


def _save(session: Session, requester: Requester, task: Task, action: str) -> Task:
    task.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError as err:
        session.rollback()
        raise EditConflict(
            "task", "someone else changed it at the same moment", "reload the task and try again"
        ) from err
    audit_record(session, requester, action, [task.patient_id], detail=f"task={task.id} status={task.status}")
    return task


def _checked_for_write(session: Session, requester: Requester, task_id: int, expected_version: int) -> Task:
    require_direct_care(requester, "task")
    task = _load(session, task_id)
    if not _may_act(task, requester):
        raise AccessDenied("task", "only its sender or addressee may change it", "ask the sender to hand it over")
    if task.version != expected_version:
        session.rollback()
        raise EditConflict(
            "task",
            f"it was changed by someone else (you saw version {expected_version}, it is now {task.version})",
            "reload the task to see what changed",
        )
    return task


def set_status(
    session: Session, requester: Requester, task_id: int, expected_version: int, status: str, note: str = ""
) -> Task:
    """Move a task to a new status along `TRANSITIONS`, recording who and why."""
    if status not in TASK_STATUSES:
        raise InvalidInput("status", f"{status!r} is not a task status", f"use one of {TASK_STATUSES}")
    task = _checked_for_write(session, requester, task_id, expected_version)
    if status not in TRANSITIONS[task.status]:
        raise InvalidInput(
            "status",
            f"a task that is {task.status} cannot become {status}",
            f"allowed next: {', '.join(sorted(TRANSITIONS[task.status])) or 'none (it is closed)'}",
        )
    task.history.append(
        TaskEvent(
            by_user_id=requester.user_id,
            by_role=requester.role,
            kind="status",
            from_status=task.status,
            to_status=status,
            note=note.strip(),
        )
    )
    task.status = status
    return _save(session, requester, task, "task.status")


def hand_over(
    session: Session,
    requester: Requester,
    task_id: int,
    expected_version: int,
    *,
    to_user_id: str | None = None,
    to_role: str | None = None,
    to_org_id: str | None = None,
    note: str = "",
) -> Task:
    """Pass an open task to someone else (e.g. district nurse to social worker), keeping its history."""
    _check_addressee(to_user_id, to_role, to_org_id)
    task = _checked_for_write(session, requester, task_id, expected_version)
    if task.status not in ACTIVE_STATUSES:
        raise InvalidInput("task", f"it is {task.status}", "reopen it before handing it over")
    target = " ".join(f"{k}={v}" for k, v in (("user", to_user_id), ("role", to_role), ("org", to_org_id)) if v)
    task.history.append(
        TaskEvent(
            by_user_id=requester.user_id,
            by_role=requester.role,
            kind="handover",
            from_status=task.status,
            to_status="open",
            note=(f"to {target}. " + note.strip()).strip(),
        )
    )
    task.to_user_id, task.to_role, task.to_org_id = to_user_id or None, to_role or None, to_org_id or None
    task.status = "open"
    return _save(session, requester, task, "task.handover")


def comment(session: Session, requester: Requester, task_id: int, expected_version: int, note: str) -> Task:
    """Add a note to the task's history without changing its status."""
    if not note.strip():
        raise InvalidInput("note", "the comment is empty", "write the comment")
    task = _checked_for_write(session, requester, task_id, expected_version)
    task.history.append(
        TaskEvent(by_user_id=requester.user_id, by_role=requester.role, kind="comment", note=note.strip())
    )
    return _save(session, requester, task, "task.comment")


def inbox(
    session: Session, requester: Requester, statuses: Iterable[str] = ACTIVE_STATUSES, *, audit: bool = True
) -> list[Task]:
    """Tasks addressed to the requester, soonest due first (undated last); audited as a view."""
    require_direct_care(requester, "tasks")
    statuses = list(statuses)
    stmt = (
        select(Task)
        .where(Task.status.in_(statuses))
        .where(
            or_(
                Task.to_user_id == requester.user_id,
                and_(
                    Task.to_user_id.is_(None),
                    Task.to_org_id == requester.org_id,
                    or_(Task.to_role.is_(None), Task.to_role == requester.role),
                ),
            )
        )
    )
    return _listed(session, requester, stmt, "task.inbox", audit)


def sent(
    session: Session, requester: Requester, statuses: Iterable[str] = ACTIVE_STATUSES, *, audit: bool = True
) -> list[Task]:
    """Tasks the requester sent that are still in the given statuses, so nothing handed off is forgotten."""
    require_direct_care(requester, "tasks")
    stmt = select(Task).where(Task.status.in_(list(statuses))).where(Task.from_user_id == requester.user_id)
    return _listed(session, requester, stmt, "task.sent", audit)


def tasks_for_patient(
    con: duckdb.DuckDBPyConnection, session: Session, requester: Requester, patient_id: int, *, audit: bool = True
) -> list[Task]:
    """All tasks about one patient, for someone with a relationship to that patient."""
    require_patient(con, session, requester, patient_id)
    stmt = select(Task).where(Task.patient_id == int(patient_id))
    return _listed(session, requester, stmt, "task.patient", audit)


def _listed(session: Session, requester: Requester, stmt, action: str, audit: bool) -> list[Task]:
    tasks = list(session.execute(stmt.options(selectinload(Task.history))).scalars())
    far = dt.date.max
    tasks.sort(key=lambda t: (t.due_date or far, t.id))
    if audit:
        audit_record(session, requester, action, sorted({t.patient_id for t in tasks}), detail=f"tasks={len(tasks)}")
    return tasks


def overdue(tasks: Iterable[Task], today: dt.date | None = None) -> list[Task]:
    """Active tasks past their due date."""
    today = today or dt.date.today()
    return [t for t in tasks if t.status in ACTIVE_STATUSES and t.due_date is not None and t.due_date < today]
