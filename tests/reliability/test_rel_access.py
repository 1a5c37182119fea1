"""Authorisation matrix: every route x every demo role (x purpose), plus cross-organisation, break-glass,
carer without consent, patient reading another's record and IDOR by changing ids.

The expectation is written here from the access rules (docs/DESIGN.md "who uses it", docs/web.md, governance
roles: a role gives purposes; a practice role's relationship is registration; MDT members see their caseload;
patients see themselves, carers whoever consented), not from what the app answers. Zero leaks is the pass:
a denied request must not succeed and its body must carry none of the patient's identifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import pytest
from rel_helpers import family_name, nhs_number
from sqlalchemy import func, select

from carecommons.store.operational import make_engine, make_sessionmaker

pytestmark = pytest.mark.slow

PUBLIC = "public"
SIGNED_IN = "signed_in"  # any signed-in identity
WITH_PURPOSE = "with_purpose"  # any role that has a purpose in the service (every role except operator)
PRACTICE = frozenset({"gp", "nurse", "pharmacist", "practice_manager"})
PROFESSIONAL = PRACTICE | {"mdt_member"}
PLANNERS = frozenset({"analyst", "clinical_lead", "ig_lead"})
IG = frozenset({"ig_lead"})
PORTAL = frozenset({"patient", "carer"})

#: (method, route path) -> who may use it, by the rules above. A route missing here fails test_every_route_is_in_matrix.
RULES: dict[tuple[str, str], str | frozenset[str]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/purpose"): SIGNED_IN,
    ("POST", "/purpose"): SIGNED_IN,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/transparency"): PUBLIC,
    ("GET", "/accessibility"): PUBLIC,
    ("GET", "/dashboards"): PLANNERS,
    ("GET", "/dashboards/london"): PLANNERS,
    ("GET", "/dashboards/{level}/{org_id}"): PLANNERS,
    ("GET", "/dashboards/{level}/{org_id}/charts/{figure_id}.svg"): PLANNERS,
    ("GET", "/governance"): IG,
    ("GET", "/governance/agreements"): IG,
    ("POST", "/governance/agreements"): IG,
    ("GET", "/governance/audit"): IG,
    ("POST", "/governance/audit/verify"): IG,
    ("GET", "/governance/opt-outs"): IG,
    ("GET", "/symptoms"): SIGNED_IN,
    ("GET", "/symptoms/{slug}"): SIGNED_IN,
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/api/v1/me"): WITH_PURPOSE,
    ("GET", "/api/v1/measures"): PUBLIC,
    ("GET", "/api/v1/dashboards/{level}/{org_id}"): PLANNERS,
    ("GET", "/api/v1/symptoms"): SIGNED_IN,
    ("GET", "/api/v1/symptoms/{slug}"): SIGNED_IN,
    ("GET", "/api/v1/governance/agreements"): IG,
    ("POST", "/api/v1/governance/audit/verify"): IG,
    ("GET", "/api/v1/governance/opt-outs"): IG,
    ("GET", "/api/v1/transparency"): PUBLIC,
    ("GET", "/care/worklist"): PRACTICE,
    ("GET", "/care/worklist.csv"): PRACTICE,
    ("POST", "/care/worklist/invite"): PRACTICE,
    ("GET", "/care/patients"): PROFESSIONAL,
    ("GET", "/care/patients/{patient_id}"): PROFESSIONAL,
    ("POST", "/care/patients/{patient_id}/break-glass"): PROFESSIONAL,
    ("GET", "/care/patients/{patient_id}/care-plans/new"): PROFESSIONAL,
    ("POST", "/care/patients/{patient_id}/care-plans"): PROFESSIONAL,
    ("GET", "/care/care-plans/{plan_id}/edit"): PROFESSIONAL,
    ("POST", "/care/care-plans/{plan_id}"): PROFESSIONAL,
    ("GET", "/care/caseload"): frozenset({"mdt_member"}),
    ("GET", "/care/tasks"): PROFESSIONAL,
    ("GET", "/care/tasks/new"): PROFESSIONAL,
    ("POST", "/care/tasks"): PROFESSIONAL,
    ("GET", "/care/tasks/{task_id}"): PROFESSIONAL,
    ("POST", "/care/tasks/{task_id}/status"): PROFESSIONAL,
    ("POST", "/care/tasks/{task_id}/handover"): PROFESSIONAL,
    ("POST", "/care/tasks/{task_id}/comment"): PROFESSIONAL,
    ("GET", "/portal"): PORTAL,
    ("GET", "/portal/{patient_id}"): PORTAL,
    ("GET", "/portal/{patient_id}/choices"): PORTAL,
    ("POST", "/portal/{patient_id}/choices"): PORTAL,
    ("GET", "/portal/{patient_id}/access-log"): PORTAL,
}

#: Routes whose role rule is only the first gate: the patient in the URL must also be theirs (tested below).
PATIENT_SCOPED = {path for (_m, path) in RULES if "{patient_id}" in path or "{task_id}" in path or "{plan_id}" in path}


def _route_table() -> set[tuple[str, str]]:
    from carecommons.web.routers import router_modules

    found = set()
    for module in router_modules():
        for route in module.router.routes:
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
    return found


def test_every_route_is_in_matrix():
    """A new route must be added to RULES, so nobody ships an endpoint without deciding who may use it."""
    missing = _route_table() - set(RULES)
    assert not missing, f"routes with no access rule in the matrix: {sorted(missing)}"


@dataclass(frozen=True)
class Person:
    patient_id: int
    markers: tuple[str, ...]  # identifiers that must never appear in a denied response


def _person(patient_id: int) -> Person:
    """The reliability store gives every patient a traceable name and NHS number (see conftest.rel_env)."""
    return Person(patient_id, (family_name(patient_id), nhs_number(patient_id)))


@pytest.fixture(scope="module")
def people(rel_env):
    """P: patient.demo (registered at the busiest practice, p1). Q: a patient registered only elsewhere."""
    p1 = rel_env.users["patient.demo"] and next(o for u, (r, o) in rel_env.users.items() if u.startswith("gp."))
    con = duckdb.connect(str(rel_env.store), read_only=True)
    try:
        q = con.execute(
            """SELECT patient_id FROM registrations GROUP BY patient_id
               HAVING bool_and(practice_id <> ?) ORDER BY patient_id LIMIT 1""",
            [p1],
        ).fetchone()[0]
    finally:
        con.close()
    return {"P": _person(rel_env.patient_id), "Q": _person(int(q)), "p1": p1}


def _nurse(rel_env) -> str:
    return next(u for u, (r, _o) in rel_env.users.items() if r == "nurse")


def _users_by_role(rel_env) -> dict[str, str]:
    first: dict[str, str] = {}
    for username, (role, _org) in sorted(rel_env.users.items()):
        first.setdefault(role, username)
    return first


def _allowed(rule, role: str | None) -> bool:
    if rule == PUBLIC:
        return True
    if role is None:
        return False
    if rule == SIGNED_IN:
        return True
    if rule == WITH_PURPOSE:
        return role != "operator"
    return role in rule


def _concrete(path: str, ids: dict[str, int | str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def _denied(status: int, location: str) -> bool:
    return status in (401, 403, 404) or (status in (302, 303, 307) and "/login" in location)


def _session_token(client) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/accessibility").text)
    return m.group(1) if m else ""


def test_role_matrix(rel_env, client_as, people):
    """Every route x every role (purposes too): denied roles never get a 2xx or any patient identifier."""
    gp = next(u for u, (r, _o) in rel_env.users.items() if r == "gp" and rel_env.users[u][1] == people["p1"])
    gp_client = client_as(gp)
    # A task and a care plan on P, created by P's GP, so the id routes point at real rows.
    token = _session_token(gp_client)
    r = gp_client.post(
        "/care/tasks",
        data={
            "patient_id": people["P"].patient_id,
            "title": "Matrix task",
            "to_user_id": _nurse(rel_env),
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.status_code
    task_id = int(re.search(r"/care/tasks/(\d+)", r.headers["location"]).group(1))
    r = gp_client.post(
        f"/care/patients/{people['P'].patient_id}/care-plans",
        data={"title": "Matrix plan", "summary": "s", "status": "active", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.status_code
    plan_id = int(re.search(r"plan_saved=(\d+)", r.headers["location"]).group(1))
    ids = {
        "patient_id": people["P"].patient_id,
        "task_id": task_id,
        "plan_id": plan_id,
        "level": "borough",
        "org_id": "x",
        "figure_id": "funnel",
        "slug": "headache",
    }
    users: list[tuple[str | None, str | None, str | None]] = [(None, None, None)]
    for role, username in _users_by_role(rel_env).items():
        from carecommons.web.roles import purposes_for

        for purpose in purposes_for(role) or (None,):
            users.append((username, role, purpose.value if purpose else None))
    tried = 0
    leaks: list[str] = []
    for username, role, purpose in users:
        client = client_as(username, purpose)
        token = _session_token(client) if username else ""
        for (method, path), rule in sorted(RULES.items()):
            if path in ("/login", "/logout", "/purpose"):
                continue  # sign-in flow: tested in tests/web/test_auth.py
            url = _concrete(path, ids)
            if "/care/tasks/new" in url:
                url += f"?patient_id={people['P'].patient_id}"
            if method == "GET":
                r = client.get(url, follow_redirects=False)
            else:
                r = client.post(url, data={"csrf_token": token}, follow_redirects=False)
            tried += 1
            assert r.status_code < 500, f"{method} {path} as {role}/{purpose}: {r.status_code}"
            if _allowed(rule, role):
                continue
            if not _denied(r.status_code, r.headers.get("location", "")):
                leaks.append(f"{method} {path} as {role}/{purpose}: {r.status_code}")
            if any(m in r.text for m in people["P"].markers):
                leaks.append(f"{method} {path} as {role}/{purpose}: body names the patient")
    print(f"\nauthorisation matrix: {tried} requests, {len(users)} identities, {len(RULES)} routes, leaks {len(leaks)}")
    assert tried > 400
    assert not leaks, leaks


def _assert_no_leak(r, person: Person) -> None:
    assert r.status_code in (403, 404), r.status_code
    for marker in person.markers:
        assert marker not in r.text


def test_cross_organisation_record_is_refused(rel_env, client_as, people):
    """A GP of another practice gets the break-glass page (403), never the record."""
    other_gp = next(u for u, (r, o) in rel_env.users.items() if r == "gp" and o != people["p1"])
    client = client_as(other_gp)
    _assert_no_leak(client.get(f"/care/patients/{people['P'].patient_id}"), people["P"])
    for term in people["P"].markers:  # search by family name and by NHS number: the term is echoed, no result
        r = client.get("/care/patients", params={"q": term})
        assert r.status_code == 200
        assert f"/care/patients/{people['P'].patient_id}" not in r.text
        assert r.text.count(term) == 1, "the patient appears beyond the echoed search box"
    form = client.get(f"/care/patients/{people['P'].patient_id}/care-plans/new")  # an empty form: no data in it
    assert not any(m in form.text for m in people["P"].markers)
    r = client.post(
        f"/care/patients/{people['P'].patient_id}/care-plans",
        data={"title": "Cross-org plan", "summary": "s", "status": "active", "csrf_token": _session_token(client)},
        follow_redirects=False,
    )
    _assert_no_leak(r, people["P"])


def test_planning_roles_never_see_a_record(rel_env, client_as, people):
    for username, (role, _org) in rel_env.users.items():
        if role in PLANNERS:
            _assert_no_leak(client_as(username).get(f"/care/patients/{people['P'].patient_id}"), people["P"])


def _break_glass_count(url: str) -> int:
    from carecommons.store.models.governance import BreakGlassAlert

    with make_sessionmaker(make_engine(url))() as session:
        return session.scalar(select(func.count()).select_from(BreakGlassAlert))


def test_break_glass_needs_a_reason_and_is_recorded(rel_env, client_as, people):
    other_gp = next(u for u, (r, o) in rel_env.users.items() if r == "gp" and o != people["p1"])
    client = client_as(other_gp)
    token = _session_token(client)
    before = _break_glass_count(rel_env.url)
    url = f"/care/patients/{people['P'].patient_id}/break-glass"
    r = client.post(url, data={"reason": "short", "csrf_token": token})
    assert r.status_code == 400
    for marker in people["P"].markers:
        assert marker not in r.text
    assert _break_glass_count(rel_env.url) == before
    r = client.post(url, data={"reason": "Unconscious in A&E, no GP contactable", "csrf_token": token})
    assert r.status_code == 200
    assert _break_glass_count(rel_env.url) == before + 1
    # Break-glass opens one request only: the plain record is still refused afterwards.
    _assert_no_leak(client.get(f"/care/patients/{people['P'].patient_id}"), people["P"])


def test_practice_manager_may_not_break_glass(rel_env, client_as, people):
    pm = next(u for u, (r, o) in rel_env.users.items() if r == "practice_manager" and o != people["p1"])
    client = client_as(pm)
    r = client.post(
        f"/care/patients/{people['P'].patient_id}/break-glass",
        data={"reason": "I would like to look at this record", "csrf_token": _session_token(client)},
    )
    _assert_no_leak(r, people["P"])


@pytest.mark.parametrize("username", ["patient.demo", "carer.demo"])
def test_portal_of_someone_else_is_refused(rel_env, client_as, people, username):
    """A patient reading another's record, and a carer without that person's consent: refused, and no write."""
    client = client_as(username)
    q = people["Q"]
    for suffix in ("", "/choices", "/access-log"):
        _assert_no_leak(client.get(f"/portal/{q.patient_id}{suffix}"), q)
    r = client.post(
        f"/portal/{q.patient_id}/choices",
        data={"kind": "planning", "choice": "out", "csrf_token": _session_token(client)},
    )
    _assert_no_leak(r, q)


def test_idor_task_and_plan_ids(rel_env, client_as, people):
    """Changing a task or plan id in the URL, or a patient id in a body, gives no access to another's rows."""
    gp1 = next(u for u, (r, o) in rel_env.users.items() if r == "gp" and o == people["p1"])
    other_gp = next(u for u, (r, o) in rel_env.users.items() if r == "gp" and o != people["p1"])
    c1 = client_as(gp1)
    t1 = _session_token(c1)
    r = c1.post(
        "/care/tasks",
        data={
            "patient_id": people["P"].patient_id,
            "title": "IDOR probe",
            "to_user_id": _nurse(rel_env),
            "csrf_token": t1,
        },
        follow_redirects=False,
    )
    task_id = int(re.search(r"/care/tasks/(\d+)", r.headers["location"]).group(1))
    c2 = client_as(other_gp)
    t2 = _session_token(c2)
    _assert_no_leak(c2.get(f"/care/tasks/{task_id}"), people["P"])
    for action in ("status", "comment", "handover"):
        r = c2.post(
            f"/care/tasks/{task_id}/{action}",
            data={"version": "1", "status": "done", "note": "x", "to_role": "gp", "csrf_token": t2},
        )
        assert r.status_code in (400, 403, 404, 409), (action, r.status_code)
    # A body naming a patient the GP has no relationship with: refused, no task created.
    r = c1.post(
        "/care/tasks",
        data={
            "patient_id": people["Q"].patient_id,
            "title": "IDOR body",
            "to_user_id": _nurse(rel_env),
            "csrf_token": t1,
        },
        follow_redirects=False,
    )
    assert r.status_code in (400, 403, 404), r.status_code
    for marker in people["Q"].markers:
        assert marker not in r.text
