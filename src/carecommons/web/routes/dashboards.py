"""Planning dashboards at London, ICS, borough, PCN and practice level, with drill-down between them."""

from __future__ import annotations

import hashlib
import threading
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from carecommons.core.errors import NotFound
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
    st: AppState, aggs: PracticeAggregates, level: OrgLevel, org_id: str, definition_id: str, draw: bool = False
) -> dashboards.Dashboard:
    """In this process's memory, else in the shared file, else built now and shared (published figures only).

    One build per page at a time in this process: requests that arrive while it is being built wait for it
    and read the result, instead of each building the same page (under load, ten analysts opening a page
    nobody had viewed cost ten builds of ~1 CPU s each). `draw` draws its charts into the page (the warm-up
    does, also for a page a request built first; a page built for a request leaves them to the chart
    resource, `chart_svg`)."""
    key = warm.dashboard_key(aggs, level, org_id, definition_id)
    dash = st.dashboard_cache.get(key)
    if dash is not None and not (draw and _undrawn(dash)):
        return dash
    with _building_lock:
        page_lock = _building.setdefault(key, threading.Lock())
    try:
        with page_lock:
            dash = st.dashboard_cache.get(key)
            if dash is None and st.shared is not None:
                dash = st.shared.get_dashboard(key)
            if dash is None or (draw and _undrawn(dash)):
                if dash is None:
                    _reuse_tables_of_default_page(st, aggs, level, org_id, definition_id)
                    dash = dashboards.build(aggs, level, org_id, definition_id)
                if draw:
                    dashboards.draw(dash)
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


def _undrawn(dash: object) -> bool:
    """A built page with a chart not drawn into it yet."""
    return isinstance(dash, dashboards.Dashboard) and any(f.chart is not None and f.svg is None for f in dash.figures)


def _reuse_tables_of_default_page(
    st: AppState, aggs: PracticeAggregates, level: OrgLevel, org_id: str, definition_id: str
) -> None:
    """Before building a page of another definition, lend it the organisation's register and indicator tables
    from the default definition's page of the same cohort if this process or the shared file has it (the
    warm-up builds those for every organisation)."""
    if definition_id == dashboards.DEFAULT_DEFINITION or not hasattr(aggs, "memo"):
        return
    key = warm.dashboard_key(aggs, level, org_id, dashboards.DEFAULT_DEFINITION)
    page = st.dashboard_cache.get(key)
    if page is None and st.shared is not None:
        page = st.shared.get_dashboard(key)
    if isinstance(page, dashboards.Dashboard):
        dashboards.reuse_org_tables(aggs, page)


_SVGS_MAX = 600  # ~100 pages of charts in this process's memory (each SVG 10-60 kB)


def chart_svg(st: AppState, key: str, dash: dashboards.Dashboard, figure_id: str) -> str:
    """One figure of a page as SVG: drawn into the page already (warm-up), else in this process's memory or the
    shared file, else drawn now (vl-convert, ~40-90 ms of CPU) and kept in both for every worker."""
    fig = dashboards.figure(dash, figure_id)
    if fig.svg is not None:
        return str(fig.svg)
    if fig.chart is None:
        raise NotFound("figure", f"figure {figure_id!r} has no chart on this page: {fig.note}", "read its table")
    name = f"svg\x1f{key}\x1f{figure_id}"
    with st.chart_lock:
        svg = st.chart_cache.get(name)
    if svg is None and st.shared is not None:
        got = st.shared.get_dashboard(name)
        svg = got if isinstance(got, str) else None
    if svg is None:
        svg = str(fig.chart.draw())
        if st.shared is not None:
            st.shared.put_dashboard(name, svg)
    with st.chart_lock:
        st.chart_cache[name] = svg
        st.chart_cache.move_to_end(name)
        while len(st.chart_cache) > _SVGS_MAX:
            st.chart_cache.popitem(last=False)
    return svg


def version(key: str) -> str:
    """Short fingerprint of a page's key (cohort, run, organisation, definition) for its chart URLs, so a
    browser may keep a chart exactly as long as the page it belongs to is unchanged."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


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
    v = version(warm.dashboard_key(aggs, level, org_id, definition_id))
    base = f"/dashboards/{dashboards.SLUG_OF[level]}/{quote(org_id, safe='')}/charts"
    query = urlencode({"definition": definition_id, "v": v})
    return render(
        request,
        "dashboards/dashboard.html",
        {
            "dash": dash,
            # Charts not drawn into the page are images of their own: the page (tables, words) renders without
            # waiting for vl-convert, and the browser fetches the charts in parallel.
            "chart_src": {f.id: f"{base}/{f.id}.svg?{query}" for f in dash.figures if f.chart and f.svg is None},
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


@router.get("/dashboards/{level}/{org_id}/charts/{figure_id}.svg")
def chart(
    request: Request,
    level: str,
    org_id: str,
    figure_id: str,
    definition: str = Query(dashboards.DEFAULT_DEFINITION, max_length=40),
    v: str = Query("", max_length=64),
    requester: Requester = Depends(planner),
) -> Response:
    """One chart of a dashboard page as an SVG image (published figures only, the same the page's table shows).

    Same governance as the page (planning role, purpose, agreements: the requester's own cohort); not audited
    again, the page view that links it is. With the page's version `v` the browser may keep it for a day
    (a changed cohort or run is a new page key, so a new URL); without it, never."""
    st = state(request)
    lvl = dashboards.level_from_slug(level)
    aggs = st.aggregates.get(requester, st.session_factory)
    key = warm.dashboard_key(aggs, lvl, org_id, definition)
    svg = chart_svg(st, key, cached_dashboard(st, aggs, lvl, org_id, definition), figure_id)
    current = v == version(key)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "Cache-Control": "private, max-age=86400, immutable" if current else "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )
