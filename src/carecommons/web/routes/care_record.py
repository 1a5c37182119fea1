"""Direct-care pages: find a patient, the linked patient record (with break-glass), shared care plans."""

from __future__ import annotations

import dataclasses
import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from carecommons.care import care_plans
from carecommons.care.access import cohort_table
from carecommons.care.care_plans import ActionInput, GoalInput
from carecommons.care.errors import EditConflict
from carecommons.care.record import RiskScore, patient_record
from carecommons.core.errors import AccessDenied, CarecommonsError, InvalidInput
from carecommons.governance import audit
from carecommons.governance.purposes import Requester
from carecommons.governance.roles import BREAK_GLASS_ROLES
from carecommons.store.models.care import ACTION_STATUSES, GOAL_STATUSES
from carecommons.web.deps import require_roles
from carecommons.web.roles import NavItem
from carecommons.web.routes.care_common import PROFESSIONAL_ROLES, op_session, parse_date, parse_version, store
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("Patients", "/care/patients", PROFESSIONAL_ROLES)]
professional = require_roles(*PROFESSIONAL_ROLES)
BREAK_GLASS_ROLE_VALUES = frozenset(r.value for r in BREAK_GLASS_ROLES)
MAX_ROWS_IN_FORM = 8
SEARCH_LIMIT = 50


@router.get("/care/patients")
def find_patient(
    request: Request, q: str = Query("", max_length=60), requester: Requester = Depends(professional)
) -> Response:
    """Search the patients you may see by NHS number or family name; results are audited as a read."""
    results: list[tuple] = []
    term = q.strip()
    if term:
        with store(request) as con, op_session(request) as session:
            table = cohort_table(con, session, requester)
            digits = term.replace(" ", "")
            results = con.execute(
                f"""
                SELECT p.patient_id, any_value(p.given_name), any_value(p.family_name), any_value(p.nhs_number),
                       any_value(p.date_of_birth)
                FROM patients p JOIN {table} a USING (patient_id)
                WHERE p.nhs_number = $digits OR lower(p.family_name) LIKE lower($prefix)
                GROUP BY p.patient_id ORDER BY 3, 2, 1 LIMIT {SEARCH_LIMIT}
                """,
                {"digits": digits, "prefix": term + "%"},
            ).fetchall()
            audit.record(
                session, requester, "patient.search", [r[0] for r in results], detail=f"results={len(results)}"
            )
    return render(request, "care/patients.html", {"q": term, "results": results, "limit": SEARCH_LIMIT})


def _risk_scores(con, patient_id: int, index: dt.date) -> list[RiskScore]:
    """eFI for this patient from the risk layer (web may import risk; care may not). Best effort: a failure
    to score is shown as 'not available', never as an error page."""
    from carecommons.web.routes.care_worklists import RISK_LIVE_MAX_PATIENTS

    if con.execute("SELECT count(*) FROM patients").fetchall()[0][0] > RISK_LIVE_MAX_PATIENTS:
        # The risk layer scores the whole store at once; at this size that is a batch job, not a page load.
        return [RiskScore("Electronic Frailty Index (eFI)", None, "not computed on page load at this scale")]
    try:
        from carecommons.risk.efi import frailty

        df = frailty(con, index, patient_ids=[patient_id])
        row = df[df["patient_id"] == patient_id]
        if row.empty:
            return [RiskScore("Electronic Frailty Index (eFI)", None, "not applicable (under 65)")]
        r = row.iloc[0]
        deficits = ", ".join(str(d).replace("-", " ") for d in r["deficits"])
        return [RiskScore("Electronic Frailty Index (eFI)", float(r["efi"]), str(r["category"]), deficits)]
    except (CarecommonsError, KeyError, ValueError):
        return [RiskScore("Electronic Frailty Index (eFI)", None, "not available")]


def _record_page(request: Request, requester: Requester, patient_id: int, status: int = 200) -> Response:
    index = dt.date.today()
    with store(request) as con, op_session(request) as session:
        rec = patient_record(
            con, session, requester, patient_id, index_date=index, risk_scores=_risk_scores(con, patient_id, index)
        )
    return render(request, "care/record.html", {"rec": rec, "today": index}, status_code=status)


@router.get("/care/patients/{patient_id}")
def record(request: Request, patient_id: int, requester: Requester = Depends(professional)) -> Response:
    try:
        return _record_page(request, requester, patient_id)
    except AccessDenied as err:
        if requester.role not in BREAK_GLASS_ROLE_VALUES:
            raise
        return render(
            request,
            "care/break_glass.html",
            {"patient_id": patient_id, "problem": err.problem, "errors": {}},
            status_code=403,
        )


@router.post("/care/patients/{patient_id}/break-glass")
async def break_glass(request: Request, patient_id: int, requester: Requester = Depends(professional)) -> Response:
    """Open one record outside a legitimate relationship, with a reason; governance raises an alert."""
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    if requester.role not in BREAK_GLASS_ROLE_VALUES:
        raise AccessDenied("break_glass", "your role may not break the glass", "ask a clinician")
    if len(reason) < 10:
        return render(
            request,
            "care/break_glass.html",
            {"patient_id": patient_id, "problem": "", "errors": {"reason": "Give a reason of at least 10 characters"}},
            status_code=400,
        )
    return _record_page(request, dataclasses.replace(requester, break_glass_reason=reason), patient_id)


# --- care plans ------------------------------------------------------------------------------------------


def _plan_form(form) -> tuple[dict, list[GoalInput], list[ActionInput]]:
    fields = {
        "title": str(form.get("title", "")).strip(),
        "summary": str(form.get("summary", "")).strip(),
        "review_date": str(form.get("review_date", "")).strip(),
        "status": str(form.get("status", "active")),
    }
    goals, actions = [], []
    for i in range(MAX_ROWS_IN_FORM):
        text = str(form.get(f"goal_{i}", "")).strip()
        if text:
            goals.append(
                GoalInput(
                    text,
                    parse_date(str(form.get(f"goal_{i}_target", "")), f"goal {i + 1} target date"),
                    str(form.get(f"goal_{i}_status", "open")),
                )
            )
    for i in range(MAX_ROWS_IN_FORM):
        text = str(form.get(f"action_{i}", "")).strip()
        if text:
            actions.append(
                ActionInput(
                    text,
                    assignee_role=str(form.get(f"action_{i}_who", "")).strip() or None,
                    due_date=parse_date(str(form.get(f"action_{i}_due", "")), f"action {i + 1} due date"),
                    status=str(form.get(f"action_{i}_status", "open")),
                )
            )
    return fields, goals, actions


def _form_values(plan=None, fields=None, goals=None, actions=None) -> dict:
    """Rows for the form: from a saved plan, or from what the user typed (after a refusal)."""
    if plan is not None:
        fields = {
            "title": plan.title,
            "summary": plan.summary,
            "review_date": plan.review_date.isoformat() if plan.review_date else "",
            "status": plan.status,
        }
        goals = [GoalInput(g.description, g.target_date, g.status) for g in plan.goals]
        actions = [ActionInput(a.description, None, a.assignee_role, None, a.due_date, a.status) for a in plan.actions]
    return {"fields": fields or {"status": "active"}, "goals": goals or [], "actions": actions or []}


def _plan_page(request, patient_id, *, plan=None, values=None, errors=None, conflict=None, status=200) -> Response:
    return render(
        request,
        "care/care_plan_form.html",
        {
            "patient_id": patient_id,
            "plan": plan,
            "v": values or _form_values(plan),
            "errors": errors or {},
            "conflict": conflict,
            "rows": MAX_ROWS_IN_FORM,
            "goal_statuses": GOAL_STATUSES,
            "action_statuses": ACTION_STATUSES,
        },
        status_code=status,
    )


@router.get("/care/patients/{patient_id}/care-plans/new")
def new_plan(request: Request, patient_id: int, requester: Requester = Depends(professional)) -> Response:
    return _plan_page(request, patient_id)


@router.post("/care/patients/{patient_id}/care-plans")
async def create_plan(request: Request, patient_id: int, requester: Requester = Depends(professional)) -> Response:
    form = await request.form()
    try:
        fields, goals, actions = _plan_form(form)
        with store(request) as con, op_session(request) as session:
            plan = care_plans.create_care_plan(
                con,
                session,
                requester,
                patient_id,
                fields["title"],
                summary=fields["summary"],
                review_date=parse_date(fields["review_date"], "review date"),
                goals=goals,
                actions=actions,
            )
    except InvalidInput as err:
        fields, goals, actions = _safe_form(form)
        return _plan_page(
            request,
            patient_id,
            values=_form_values(None, fields, goals, actions),
            errors={err.input_name: f"{err.problem}. {err.fix}"},
            status=400,
        )
    return RedirectResponse(f"/care/patients/{patient_id}?plan_saved={plan.id}#care-plan", status_code=303)


def _safe_form(form) -> tuple[dict, list[GoalInput], list[ActionInput]]:
    """The typed values for redisplay, ignoring unparseable dates (the error summary names them)."""
    fields = {k: str(form.get(k, "")).strip() for k in ("title", "summary", "review_date", "status")}
    goals = [
        GoalInput(str(form.get(f"goal_{i}", "")))
        for i in range(MAX_ROWS_IN_FORM)
        if str(form.get(f"goal_{i}", "")).strip()
    ]
    actions = [
        ActionInput(str(form.get(f"action_{i}", "")))
        for i in range(MAX_ROWS_IN_FORM)
        if str(form.get(f"action_{i}", "")).strip()
    ]
    return fields, goals, actions


@router.get("/care/care-plans/{plan_id}/edit")
def edit_plan(request: Request, plan_id: int, requester: Requester = Depends(professional)) -> Response:
    with store(request) as con, op_session(request) as session:
        plan = care_plans.get_care_plan(con, session, requester, plan_id)
    return _plan_page(request, plan.patient_id, plan=plan)


@router.post("/care/care-plans/{plan_id}")
async def save_plan(request: Request, plan_id: int, requester: Requester = Depends(professional)) -> Response:
    form = await request.form()
    with store(request) as con, op_session(request) as session:
        try:
            version = parse_version(form)
            fields, goals, actions = _plan_form(form)
            plan = care_plans.update_care_plan(
                con,
                session,
                requester,
                plan_id,
                version,
                title=fields["title"],
                summary=fields["summary"],
                review_date=parse_date(fields["review_date"], "review date"),
                clear_review_date=not fields["review_date"],
                status=fields["status"],
                goals=goals,
                actions=actions,
            )
        except EditConflict as err:
            current = care_plans.get_care_plan(con, session, requester, plan_id)
            fields, goals, actions = _safe_form(form)
            return _plan_page(
                request,
                current.patient_id,
                plan=current,
                values=_form_values(None, fields, goals, actions),
                conflict=err,
                status=409,
            )
        except InvalidInput as err:
            session.rollback()
            current = care_plans.get_care_plan(con, session, requester, plan_id)
            fields, goals, actions = _safe_form(form)
            return _plan_page(
                request,
                current.patient_id,
                plan=current,
                values=_form_values(None, fields, goals, actions),
                errors={err.input_name: f"{err.problem}. {err.fix}"},
                status=400,
            )
    return RedirectResponse(f"/care/patients/{plan.patient_id}?plan_saved={plan.id}#care-plan", status_code=303)
