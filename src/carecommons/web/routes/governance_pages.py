"""Governance pages for the information-governance lead: agreements, audit search and verification, opt-outs."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from carecommons.core.errors import CarecommonsError, InvalidInput
from carecommons.governance import agreements, audit
from carecommons.governance.agreements import Flow
from carecommons.governance.purposes import Purpose, Requester
from carecommons.web import oversight
from carecommons.web.deps import require_roles, state
from carecommons.web.planning_access import covered_for_planning
from carecommons.web.roles import OVERSIGHT_ROLES, PURPOSE_LABELS, NavItem
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("Governance", "/governance", OVERSIGHT_ROLES)]
ig_lead = require_roles(*OVERSIGHT_ROLES)

FLOW_LABELS = {
    Flow.GP_TO_DIRECT_CARE: "GP records for direct care",
    Flow.GP_TO_MDT: "GP records to the multidisciplinary team",
    Flow.GP_TO_PLANNING: "GP records for planning",
    Flow.GP_TO_RESEARCH: "GP records for research",
    Flow.SOCIAL_CARE_TO_DIRECT_CARE: "Social-care records for direct care",
    Flow.HOSPITAL_TO_DIRECT_CARE: "Hospital records for direct care",
}


@router.get("/governance")
def overview(request: Request, requester: Requester = Depends(ig_lead)) -> Response:
    with state(request).session_factory() as session:
        rows = oversight.agreements_list(session)
    return render(request, "governance/overview.html", {"agreements_in_force": sum(r.in_force for r in rows)})


def _agreements_page(
    request: Request, errors: dict[str, str] | None = None, values: dict | None = None, status: int = 200
) -> Response:
    with state(request).session_factory() as session:
        rows = oversight.agreements_list(session)
        orgs = oversight.organisations(session)
    return render(
        request,
        "governance/agreements.html",
        {
            "rows": rows,
            "orgs": orgs,
            "flows": list(FLOW_LABELS.items()),
            "purposes": list(PURPOSE_LABELS.items()),
            "errors": errors or {},
            "values": values or {},
            "created": request.query_params.get("created"),
        },
        status_code=status,
    )


@router.get("/governance/agreements")
def agreements_page(request: Request, requester: Requester = Depends(ig_lead)) -> Response:
    return _agreements_page(request)


@router.post("/governance/agreements")
async def create_agreement(request: Request, requester: Requester = Depends(ig_lead)) -> Response:
    form = await request.form()
    values = {
        "name": str(form.get("name", "")).strip(),
        "from_org": str(form.get("from_org", "")),
        "to_org": str(form.get("to_org", "")),
        "purposes": [str(v) for v in form.getlist("purposes")],
        "flows": [str(v) for v in form.getlist("flows")],
        "valid_from": str(form.get("valid_from", "")).strip(),
        "valid_to": str(form.get("valid_to", "")).strip(),
    }
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Enter a name for the agreement"
    if not values["from_org"]:
        errors["from_org"] = "Choose the organisation sharing data"
    if not values["to_org"]:
        errors["to_org"] = "Choose the organisation receiving data"
    if not values["purposes"]:
        errors["purposes"] = "Choose at least one purpose"
    if not values["flows"]:
        errors["flows"] = "Choose at least one data flow"
    dates: dict[str, dt.date | None] = {}
    for field in ("valid_from", "valid_to"):
        try:
            dates[field] = dt.date.fromisoformat(values[field]) if values[field] else None
        except ValueError:
            errors[field] = "Enter a date in the form YYYY-MM-DD"
    if not values["valid_from"] and "valid_from" not in errors:
        errors["valid_from"] = "Enter the date the agreement starts"
    if errors:
        return _agreements_page(request, errors, values, status=400)
    try:
        purposes = [Purpose(p) for p in values["purposes"]]
    except ValueError:
        return _agreements_page(request, {"purposes": "Choose purposes from the list"}, values, status=400)
    with state(request).session_factory() as session:
        try:
            created = agreements.add_agreement(
                session, values["name"], values["from_org"], values["to_org"], purposes, values["flows"],
                dates["valid_from"], dates["valid_to"],
            )  # fmt: skip
        except CarecommonsError as err:
            session.rollback()
            return _agreements_page(
                request, {"form": f"{err.input_name}: {err.problem}. {err.fix}"}, values, status=400
            )
        audit.record(session, requester, "agreement.create", None, f"agreement {created.agreement_id}")
        state(request).aggregates.invalidate()
    return RedirectResponse(f"/governance/agreements?created={created.agreement_id}", status_code=303)


@router.get("/governance/audit")
def audit_page(
    request: Request,
    user: str = Query("", max_length=64),
    action: str = Query("", max_length=64),
    purpose: str = Query("", max_length=32),
    patient: str = Query("", max_length=20),
    date_from: str = Query("", alias="from", max_length=10),
    date_to: str = Query("", alias="to", max_length=10),
    requester: Requester = Depends(ig_lead),
) -> Response:
    errors: dict[str, str] = {}
    entries = []
    try:
        q = oversight.parse_audit_query(user, action, purpose, patient, date_from, date_to)
    except InvalidInput as err:
        errors[err.input_name] = f"{err.problem.capitalize()}: {err.fix}"
        q = oversight.AuditQuery()
    with state(request).session_factory() as session:
        if not errors:
            entries = oversight.search_audit(session, q)
        audit.record(session, requester, "audit.search", None, "audit log searched")
    return render(
        request,
        "governance/audit.html",
        {
            "entries": entries,
            "q": {
                "user": user,
                "action": action,
                "purpose": purpose,
                "patient": patient,
                "from": date_from,
                "to": date_to,
            },
            "errors": errors,
            "purposes": list(PURPOSE_LABELS.items()),
            "limit": oversight.AUDIT_PAGE_SIZE,
        },
        status_code=400 if errors else 200,
    )


@router.post("/governance/audit/verify")
def verify_chain(request: Request, requester: Requester = Depends(ig_lead)) -> Response:
    with state(request).session_factory() as session:
        result = audit.verify(session)
        audit.record(session, requester, "audit.verify", None, f"verified {result.checked} entries, ok={result.ok}")
    return render(request, "governance/verify.html", {"result": result})


@router.get("/governance/opt-outs")
def opt_outs_page(request: Request, requester: Requester = Depends(ig_lead)) -> Response:
    st = state(request)
    with st.session_factory() as session:
        counts = st.opt_out_counts.get(covered_for_planning(session, requester))
        figures = oversight.opt_out_figures(counts, session)
    return render(request, "governance/opt_outs.html", {"f": figures, "index_date": counts.index_date})
