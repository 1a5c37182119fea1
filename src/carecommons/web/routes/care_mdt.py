"""MDT pages: my caseload, my tasks (inbox and sent), sending, progressing and handing over tasks."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from carecommons.care import tasks
from carecommons.care.access import allowed_among
from carecommons.care.errors import EditConflict
from carecommons.core.errors import InvalidInput
from carecommons.governance import audit, relationships
from carecommons.governance.purposes import Requester
from carecommons.governance.roles import Role
from carecommons.store.models.care import CarePlan, Task
from carecommons.store.models.governance import User
from carecommons.web.deps import require_roles
from carecommons.web.roles import NavItem
from carecommons.web.routes.care_common import PROFESSIONAL_ROLES, op_session, parse_date, parse_version, store
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [
    NavItem("Caseload", "/care/caseload", frozenset({Role.MDT_MEMBER.value})),
    NavItem("Tasks", "/care/tasks", PROFESSIONAL_ROLES),
]
professional = require_roles(*PROFESSIONAL_ROLES)
mdt_member = require_roles(Role.MDT_MEMBER.value)


def _names(con, ids) -> dict[int, tuple[str, str]]:
    """Display names for patients the requester may see (callers pass only allowed ids)."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return {}
    rows = con.execute(
        """SELECT patient_id, any_value(given_name), any_value(family_name) FROM patients
           WHERE list_contains($ids, patient_id) GROUP BY patient_id""",
        {"ids": ids},
    ).fetchall()
    return {int(p): (g or "", f or "") for p, g, f in rows}


@router.get("/care/caseload")
def caseload(request: Request, requester: Requester = Depends(mdt_member)) -> Response:
    """The MDT member's caseload: patients, their active care plans and open tasks, audited as one read."""
    with store(request) as con, op_session(request) as session:
        ids = relationships.caseload(session, requester.user_id)
        visible = allowed_among(con, session, requester, ids)
        names = _names(con, visible)
        plans = (
            dict(
                session.execute(
                    select(CarePlan.patient_id, func.count(CarePlan.id))
                    .where(CarePlan.patient_id.in_(visible), CarePlan.status == "active")
                    .group_by(CarePlan.patient_id)
                ).all()
            )
            if visible
            else {}
        )
        open_tasks = (
            dict(
                session.execute(
                    select(Task.patient_id, func.count(Task.id))
                    .where(Task.patient_id.in_(visible), Task.status.in_(tasks.ACTIVE_STATUSES))
                    .group_by(Task.patient_id)
                ).all()
            )
            if visible
            else {}
        )
        audit.record(session, requester, "caseload.view", sorted(visible), detail=f"patients={len(visible)}")
    rows = sorted(
        ((pid, *names.get(pid, ("", "")), plans.get(pid, 0), open_tasks.get(pid, 0)) for pid in visible),
        key=lambda r: (r[2].lower(), r[1].lower(), r[0]),
    )
    return render(request, "care/caseload.html", {"rows": rows, "not_covered": len(set(ids) - visible)})


@router.get("/care/tasks")
def task_lists(request: Request, requester: Requester = Depends(professional)) -> Response:
    with store(request) as con, op_session(request) as session:
        inbox = tasks.inbox(session, requester)
        sent = tasks.sent(session, requester)
        visible = allowed_among(con, session, requester, {t.patient_id for t in inbox + sent})
        names = _names(con, visible)
    return render(
        request,
        "care/tasks.html",
        {"inbox": inbox, "sent": sent, "names": names, "overdue": {t.id for t in tasks.overdue(inbox + sent)}},
    )


def _colleagues(session) -> list[User]:
    return list(
        session.execute(
            select(User).where(User.active.is_(True), User.role.in_(sorted(PROFESSIONAL_ROLES))).order_by(User.user_id)
        ).scalars()
    )


def _new_task_page(request, patient_id, errors=None, values=None, status=200) -> Response:
    with op_session(request) as session:
        colleagues = _colleagues(session)
    return render(
        request,
        "care/task_new.html",
        {"patient_id": patient_id, "colleagues": colleagues, "errors": errors or {}, "v": values or {}},
        status_code=status,
    )


@router.get("/care/tasks/new")
def new_task(request: Request, patient_id: int = Query(...), requester: Requester = Depends(professional)) -> Response:
    return _new_task_page(request, patient_id)


@router.post("/care/tasks")
async def create_task(request: Request, requester: Requester = Depends(professional)) -> Response:
    form = await request.form()
    values = {
        k: str(form.get(k, "")).strip()
        for k in ("patient_id", "title", "detail", "to_user_id", "to_role", "to_org_id", "due_date")
    }
    try:
        patient_id = int(values["patient_id"])
    except ValueError:
        raise InvalidInput("patient_id", "is missing", "open the task form from a patient's record") from None
    try:
        with store(request) as con, op_session(request) as session:
            task = tasks.create_task(
                con,
                session,
                requester,
                patient_id,
                values["title"],
                to_user_id=values["to_user_id"] or None,
                to_role=values["to_role"] or None,
                to_org_id=values["to_org_id"] or None,
                due_date=parse_date(values["due_date"], "due date"),
                detail=values["detail"],
            )
    except InvalidInput as err:
        return _new_task_page(request, patient_id, {err.input_name: f"{err.problem}. {err.fix}"}, values, 400)
    return RedirectResponse(f"/care/tasks/{task.id}?sent=1", status_code=303)


def _task_page(request, requester, task_id, errors=None, status=200) -> Response:
    with store(request) as con, op_session(request) as session:
        task = tasks.get_task(session, requester, task_id)
        visible = allowed_among(con, session, requester, [task.patient_id])
        names = _names(con, visible)
        colleagues = _colleagues(session)
    return render(
        request,
        "care/task.html",
        {
            "task": task,
            "patient_name": names.get(task.patient_id),
            "next_statuses": sorted(tasks.TRANSITIONS[task.status]),
            "colleagues": colleagues,
            "errors": errors or {},
            "may_act": tasks.is_addressee(task, requester) or task.from_user_id == requester.user_id,
            "today": dt.date.today(),
        },
        status_code=status,
    )


@router.get("/care/tasks/{task_id}")
def task_detail(request: Request, task_id: int, requester: Requester = Depends(professional)) -> Response:
    return _task_page(request, requester, task_id)


async def _task_write(request: Request, requester: Requester, task_id: int, action, done_url: str = "") -> Response:
    form = await request.form()
    with op_session(request) as session:
        try:
            action(session, parse_version(form), form)
        except EditConflict as err:
            session.rollback()
            return _task_page(request, requester, task_id, {"task": f"{err.problem}. {err.fix}"}, 409)
        except InvalidInput as err:
            session.rollback()
            return _task_page(request, requester, task_id, {err.input_name: f"{err.problem}. {err.fix}"}, 400)
    return RedirectResponse(done_url or f"/care/tasks/{task_id}", status_code=303)


@router.post("/care/tasks/{task_id}/status")
async def task_status(request: Request, task_id: int, requester: Requester = Depends(professional)) -> Response:
    return await _task_write(
        request,
        requester,
        task_id,
        lambda s, v, f: tasks.set_status(s, requester, task_id, v, str(f.get("status", "")), str(f.get("note", ""))),
    )


@router.post("/care/tasks/{task_id}/handover")
async def task_handover(request: Request, task_id: int, requester: Requester = Depends(professional)) -> Response:
    return await _task_write(
        request,
        requester,
        task_id,
        lambda s, v, f: tasks.hand_over(
            s,
            requester,
            task_id,
            v,
            to_user_id=str(f.get("to_user_id", "")).strip() or None,
            to_role=str(f.get("to_role", "")).strip() or None,
            to_org_id=str(f.get("to_org_id", "")).strip() or None,
            note=str(f.get("note", "")),
        ),
        done_url=f"/care/tasks?handed_over={task_id}",  # it has left your hands: back to your list
    )


@router.post("/care/tasks/{task_id}/comment")
async def task_comment(request: Request, task_id: int, requester: Requester = Depends(professional)) -> Response:
    return await _task_write(
        request, requester, task_id, lambda s, v, f: tasks.comment(s, requester, task_id, v, str(f.get("note", "")))
    )
