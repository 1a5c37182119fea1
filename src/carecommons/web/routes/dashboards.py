"""Planning dashboards at London, ICS, borough, PCN and practice level, with drill-down between them."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from carecommons.core.orgs import OrgLevel
from carecommons.governance import audit
from carecommons.governance.purposes import Purpose, Requester
from carecommons.web import dashboards, warm
from carecommons.web.aggregates import PracticeAggregates
from carecommons.web.deps import AppState, require_roles, state
from carecommons.web.roles import DASHBOARD_ROLES, NavItem
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("Dashboards", "/dashboards", DASHBOARD_ROLES, frozenset({Purpose.PLANNING, Purpose.RESEARCH}))]
planner = require_roles(*DASHBOARD_ROLES)


def dashboard_for(
    st: AppState,
    requester: Requester,
    level: OrgLevel,
    org_id: str,
    definition_id: str,
    aggs: PracticeAggregates | None = None,
) -> dashboards.Dashboard:
    """The dashboard, audited. Built once per cohort fingerprint (run, snapshot, allowed patients, covered
    practices), organisation and definition, and shared by every worker through the shared-state file, so
    whichever worker (or the background warm-up) built it first saves the others the work. `aggs` is the
    requester's cohort when the caller already fetched it (with its purpose and agreement checks) for this
    request."""
    aggs = aggs if aggs is not None else st.aggregates.get(requester, st.session_factory)
    dash = cached_dashboard(st, aggs, level, org_id, definition_id)
    with st.session_factory() as session:
        audit.record(session, requester, "dashboard.view", None, f"{level.label} {org_id}, definition {definition_id}")
    return dash


_building_lock = threading.Lock()
_building: dict[str, threading.Lock] = {}


def cached_dashboard(
    st: AppState, aggs: PracticeAggregates, level: OrgLevel, org_id: str, definition_id: str
) -> dashboards.Dashboard:
    """In this process's memory, else in the shared file, else built now and shared (published figures only).

    One build per page at a time in this process: requests that arrive while it is being built wait for it
    and read the result, instead of each building the same page (under load, ten analysts opening a page
    nobody had viewed cost ten builds of ~1 CPU s each)."""
    key = warm.dashboard_key(aggs, level, org_id, definition_id)
    dash = st.dashboard_cache.get(key)
    if dash is not None:
        return dash
    with _building_lock:
        page_lock = _building.setdefault(key, threading.Lock())
    try:
        with page_lock:
            dash = st.dashboard_cache.get(key)
            if dash is None and st.shared is not None:
                dash = st.shared.get_dashboard(key)
            if dash is None:
                dash = dashboards.build(aggs, level, org_id, definition_id)
                if st.shared is not None:
                    st.shared.put_dashboard(key, dash)
            if len(st.dashboard_cache) > 2000:
                st.dashboard_cache.clear()
            st.dashboard_cache[key] = dash
            return dash
    finally:
        with _building_lock:
            if _building.get(key) is page_lock and not page_lock.locked():
                del _building[key]


def home_dashboard(st: AppState, requester: Requester) -> str:
    """The dashboard of the requester's own organisation (an ICS analyst starts at their ICS)."""
    org = requester.org_id or "london"
    if org == "london":
        return "/dashboards/london"
    prefix, _, key = org.partition(":")
    if prefix == "icb" and key:
        return f"/dashboards/ics/{key}"
    if prefix == "borough" and key:
        return f"/dashboards/borough/{key}"
    aggs = st.aggregates.get(requester, st.session_factory)
    if org in set(aggs.practices["practice_id"]):
        return f"/dashboards/practice/{org}"
    if org in set(aggs.practices["pcn_id"]):
        return f"/dashboards/pcn/{org}"
    return "/dashboards/london"


@router.get("/dashboards")
def dashboards_home(request: Request, requester: Requester = Depends(planner)) -> Response:
    return RedirectResponse(home_dashboard(state(request), requester), status_code=303)


def _page(request: Request, requester: Requester, level: OrgLevel, org_id: str, definition_id: str) -> Response:
    st = state(request)
    aggs = st.aggregates.get(requester, st.session_factory)  # checks purpose and agreements, once per request
    dash = dashboard_for(st, requester, level, org_id, definition_id, aggs)
    return render(
        request,
        "dashboards/dashboard.html",
        {
            "dash": dash,
            "crumbs": [(c.href, c.name) for c in dash.breadcrumbs],
            "definitions": list(aggs.definitions.values()),
            "fmt_count": dashboards.fmt_count,
            "fmt_pct": dashboards.fmt_pct,
            "level_slug": dashboards.SLUG_OF,
        },
    )


@router.get("/dashboards/london")
def london(
    request: Request,
    definition: str = Query(dashboards.DEFAULT_DEFINITION, max_length=40),
    requester: Requester = Depends(planner),
) -> Response:
    return _page(request, requester, OrgLevel.LONDON, "LONDON", definition)


@router.get("/dashboards/{level}/{org_id}")
def org_dashboard(
    request: Request,
    level: str,
    org_id: str,
    definition: str = Query(dashboards.DEFAULT_DEFINITION, max_length=40),
    requester: Requester = Depends(planner),
) -> Response:
    return _page(request, requester, dashboards.level_from_slug(level), org_id, definition)
