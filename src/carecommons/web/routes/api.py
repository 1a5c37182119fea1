"""JSON API under /api/v1: the same governed data as the pages, in a Datasette-like envelope.

Success: {"ok": true, "data": ..., "meta": {...}}. Failure (any status): {"ok": false, "error": {status,
title, detail, fix}} — see web/errors.py. Authentication is the browser session; unsafe methods need the
session's CSRF token in the X-CSRF-Token header (GET /api/v1/me returns it).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from carecommons import __version__
from carecommons.core.errors import NotFound
from carecommons.core.orgs import OrgLevel
from carecommons.definitions.library import load_library
from carecommons.governance import audit
from carecommons.governance.purposes import Requester
from carecommons.reference.symptoms import SymptomGuidance, load_guidance
from carecommons.web import dashboards, oversight
from carecommons.web.deps import current_identity, current_requester, require_roles, state
from carecommons.web.errors import envelope
from carecommons.web.planning_access import covered_for_planning
from carecommons.web.roles import DASHBOARD_ROLES, OVERSIGHT_ROLES
from carecommons.web.routes.dashboards import dashboard_for
from carecommons.web.routes.public import transparency_figures
from carecommons.web.routes.symptoms_pages import search
from carecommons.web.security import csrf_token

T = TypeVar("T")


class ErrorDetail(BaseModel):
    status: int
    title: str
    detail: str
    fix: str


class ErrorEnvelope(BaseModel):
    ok: bool = False
    error: ErrorDetail


class Envelope(BaseModel, Generic[T]):
    ok: bool = True
    data: T
    meta: dict[str, Any] = {}


_ERRORS = {
    s: {"model": ErrorEnvelope, "description": d}
    for s, d in (
        (400, "Bad request"),
        (401, "Not signed in"),
        (403, "Access denied"),
        (404, "Not found"),
        (422, "Invalid input"),
    )
}
router = APIRouter(prefix="/api/v1", tags=["api"], responses=_ERRORS)
NAV: list = []
planner = require_roles(*DASHBOARD_ROLES)
ig_lead = require_roles(*OVERSIGHT_ROLES)


@router.get("/health", response_model=Envelope[dict[str, Any]], summary="Service health (no sign-in)")
def health() -> dict:
    return envelope({"status": "ok", "version": __version__})


@router.get("/me", response_model=Envelope[dict[str, Any]], summary="The signed-in user, purpose and CSRF token")
def me(request: Request, requester: Requester = Depends(current_requester)) -> dict:
    identity = current_identity(request)
    return envelope(
        {
            "user_id": requester.user_id,
            "display_name": identity.display_name,
            "role": requester.role,
            "org_id": requester.org_id,
            "purpose": requester.purpose.value,
            "project_id": requester.project_id,
            "allowed_purposes": [p.value for p in identity.allowed_purposes()],
            "csrf_token": csrf_token(request.session),
        }
    )


@router.get(
    "/measures",
    response_model=Envelope[dict[str, Any]],
    summary="Registers and indicators shown on dashboards (the London definitions library)",
)
def measures() -> dict:
    library = load_library()

    def describe(d) -> dict:
        return {
            "id": d.id,
            "version": d.version,
            "title": d.title,
            "description": d.description,
            "group": d.group,
            "codelists": list(d.codelists),
        }

    defs = library.all_definitions()
    return envelope(
        {
            "registers": [describe(d) for d in defs if d.kind.value == "register"],
            "indicators": [describe(d) for d in defs if d.kind.value == "indicator"],
        }
    )


@router.get(
    "/dashboards/{level}/{org_id}",
    response_model=Envelope[dict[str, Any]],
    summary="Disclosure-controlled prevalence, indicator achievement, children and breakdowns of one organisation",
    description="level is london (org_id LONDON), ics, borough, pcn or practice; definition is a library id "
    "(e.g. HYP_REG, DM020) for children and breakdowns. Figures are the engine's results of the newest run for "
    "the requester's planning cohort (opt-outs removed). Counts are published: 1-7 suppressed (null), others "
    "rounded to 5; rates are computed from published counts.",
)
def dashboard(
    request: Request,
    level: str,
    org_id: str,
    definition: str = Query(dashboards.DEFAULT_DEFINITION, max_length=40),
    requester: Requester = Depends(planner),
) -> dict:
    lvl = dashboards.level_from_slug(level)
    if lvl is OrgLevel.LONDON:
        org_id = "LONDON"
    dash = dashboard_for(state(request), requester, lvl, org_id, definition)
    return envelope(
        dashboards.as_json(dash),
        index_date=dash.index_date,
        run_id=dash.run_id,
        snapshot_id=dash.snapshot_id,
        disclosure="suppress 1-7, round to 5",
    )


def _symptom_json(e: SymptomGuidance) -> dict:
    return {
        "slug": e.slug,
        "symptom": e.symptom,
        "category": e.category,
        "lay_synonyms": list(e.lay_synonyms),
        "consider": list(e.consider),
        "red_flags": list(e.red_flags),
        "references": [{"code": r.code, "section": r.section, "title": r.title, "url": r.url} for r in e.references],
    }


@router.get("/symptoms", response_model=Envelope[list[dict[str, Any]]], summary="Search the consultation reference")
def symptoms(
    q: str = Query("", max_length=100),
    category: str = Query("", max_length=60),
    _identity=Depends(current_identity),
) -> dict:
    g = load_guidance()
    results = search(q, category)
    return envelope(
        [_symptom_json(e) for e in results], count=len(results), status=g.status, needs_sign_off=g.needs_sign_off
    )


@router.get("/symptoms/{slug}", response_model=Envelope[dict[str, Any]], summary="One symptom's guidance")
def symptom(slug: str, _identity=Depends(current_identity)) -> dict:
    g = load_guidance()
    e = g.get(slug)
    if e is None:
        raise NotFound("symptom", "no symptom with that slug", "search /api/v1/symptoms?q=...")
    return envelope(_symptom_json(e), status=g.status, needs_sign_off=g.needs_sign_off)


@router.get("/governance/agreements", response_model=Envelope[list[dict[str, Any]]], summary="Data-sharing agreements")
def agreements(request: Request, _req: Requester = Depends(ig_lead)) -> dict:
    with state(request).session_factory() as session:
        rows = oversight.agreements_list(session)
    return envelope(
        [
            {
                "agreement_id": r.agreement_id,
                "name": r.name,
                "from_org": r.from_org,
                "to_org": r.to_org,
                "permissions": [{"purpose": p, "flow": f} for p, f in r.permissions],
                "valid_from": r.valid_from.isoformat(),
                "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                "in_force": r.in_force,
            }
            for r in rows
        ],
        count=len(rows),
    )


@router.post("/governance/audit/verify", response_model=Envelope[dict[str, Any]], summary="Verify the audit hash chain")
def verify(request: Request, requester: Requester = Depends(ig_lead)) -> dict:
    with state(request).session_factory() as session:
        result = audit.verify(session)
        audit.record(session, requester, "audit.verify", None, f"verified {result.checked} entries, ok={result.ok}")
    return envelope(
        {
            "ok": result.ok,
            "checked": result.checked,
            "first_broken_seq": result.first_broken_seq,
            "reason": result.reason,
        }
    )


@router.get("/governance/opt-outs", response_model=Envelope[dict[str, Any]], summary="Opt-out figures (published)")
def opt_outs(request: Request, requester: Requester = Depends(ig_lead)) -> dict:
    st = state(request)
    with st.session_factory() as session:
        counts = st.opt_out_counts.get(covered_for_planning(session, requester))
        f = oversight.opt_out_figures(counts, session)
    return envelope(f, index_date=counts.index_date.isoformat(), disclosure="suppress 1-7, round to 5")


@router.get(
    "/transparency", response_model=Envelope[dict[str, Any]], summary="Public transparency figures (no sign-in)"
)
def transparency(request: Request) -> dict:
    f = transparency_figures(request)
    return envelope(
        {
            "agreements_in_force": [
                {
                    "name": a.name,
                    "from_org": a.from_org,
                    "to_org": a.to_org,
                    "permissions": [{"purpose": p, "flow": fl} for p, fl in a.permissions],
                }
                for a in f["agreements"]
            ],
            "accesses_last_30_days": [{"purpose": a["purpose"], "count": a["n"]} for a in f["accesses"]],
        }
    )
