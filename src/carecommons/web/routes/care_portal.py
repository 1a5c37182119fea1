"""The patient and carer portal: record summary, care plan, data-sharing choices, who looked and why."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from carecommons.care import portal
from carecommons.core.errors import InvalidInput
from carecommons.governance.purposes import Requester
from carecommons.governance.roles import Role
from carecommons.store.models.governance import User
from carecommons.web.deps import require_roles
from carecommons.web.roles import NavItem
from carecommons.web.routes.care_common import PORTAL_ROLE_VALUES, op_session, store
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("My record", "/portal", PORTAL_ROLE_VALUES)]
portal_user = require_roles(*PORTAL_ROLE_VALUES)


def _own_patient_id(session, requester: Requester) -> int | None:
    user = session.get(User, requester.user_id)
    return user.patient_id if user is not None and requester.role == Role.PATIENT.value else None


def _names(con, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = con.execute(
        """SELECT patient_id, any_value(given_name), any_value(family_name) FROM patients
           WHERE list_contains($ids, patient_id) GROUP BY patient_id""",
        {"ids": ids},
    ).fetchall()
    return {int(p): f"{g or ''} {f or ''}".strip() for p, g, f in rows}


@router.get("/portal")
def portal_home(request: Request, requester: Requester = Depends(portal_user)) -> Response:
    """A patient goes straight to their record; a carer chooses among the people who consented."""
    with op_session(request) as session:
        ids = portal.patients_for(session, requester, _own_patient_id(session, requester))
    if requester.role == Role.PATIENT.value and ids:
        return RedirectResponse(f"/portal/{ids[0]}", status_code=303)
    with store(request) as con:
        names = _names(con, ids)  # only people who consented to this carer
    return render(request, "care/portal_home.html", {"people": [(i, names.get(i, "")) for i in ids]})


def _context(request, requester, patient_id: int) -> dict:
    with op_session(request) as session:
        acting_for_self = _own_patient_id(session, requester) == patient_id
    return {"patient_id": patient_id, "acting_for_self": acting_for_self}


@router.get("/portal/{patient_id}")
def portal_summary(request: Request, patient_id: int, requester: Requester = Depends(portal_user)) -> Response:
    with store(request) as con, op_session(request) as session:
        rec = portal.summary(con, session, requester, patient_id, index_date=dt.date.today())
    return render(request, "care/portal_summary.html", {**_context(request, requester, patient_id), "rec": rec})


def _choices_page(request, requester, patient_id, errors=None, saved=False, status=200) -> Response:
    with store(request) as con, op_session(request) as session:
        choices = portal.choices(con, session, requester, patient_id)
    return render(
        request,
        "care/portal_choices.html",
        {**_context(request, requester, patient_id), "choices": choices, "errors": errors or {}, "saved": saved},
        status_code=status,
    )


@router.get("/portal/{patient_id}/choices")
def portal_choices(request: Request, patient_id: int, requester: Requester = Depends(portal_user)) -> Response:
    return _choices_page(request, requester, patient_id, saved=bool(request.query_params.get("saved")))


@router.post("/portal/{patient_id}/choices")
async def portal_set_choice(request: Request, patient_id: int, requester: Requester = Depends(portal_user)) -> Response:
    form = await request.form()
    kind = str(form.get("kind", ""))
    choice = str(form.get("choice", ""))
    if choice not in ("out", "in"):
        return _choices_page(
            request, requester, patient_id, {f"choice-{kind}": "Choose whether to share or not"}, status=400
        )
    with store(request) as con, op_session(request) as session:
        try:
            portal.set_choice(con, session, requester, patient_id, kind, choice == "out")
        except InvalidInput as err:
            session.rollback()
            return _choices_page(
                request, requester, patient_id, {err.input_name: f"{err.problem}. {err.fix}"}, status=400
            )
    return RedirectResponse(f"/portal/{patient_id}/choices?saved=1", status_code=303)


@router.get("/portal/{patient_id}/access-log")
def portal_access_log(
    request: Request, patient_id: int, page: int = 1, requester: Requester = Depends(portal_user)
) -> Response:
    with store(request) as con, op_session(request) as session:
        log = portal.access_log(con, session, requester, patient_id, page=page)
    return render(request, "care/portal_access_log.html", {**_context(request, requester, patient_id), "log": log})
