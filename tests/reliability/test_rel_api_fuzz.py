"""Bad input against the web app: schemathesis over the OpenAPI spec, then XSS, SQL injection, CSRF and hostile
values in every free-text field and id of the HTML forms.

Pass: no 5xx ever; every /api/ answer is the JSON envelope; a hostile string is escaped wherever it is shown;
a state-changing POST without the session's CSRF token is refused and writes nothing.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from rel_helpers import family_name
from schemathesis import GenerationMode
from sqlalchemy import func, select

from carecommons.store.models.care import CarePlan, Task, TaskEvent
from carecommons.store.models.governance import Agreement, AuditEntry
from carecommons.store.operational import make_engine, make_sessionmaker

pytestmark = pytest.mark.slow

API_EXAMPLES = 15  # per operation and per generation mode; benchmarks may raise it
TRIED: dict[str, int] = {"openapi": 0, "forms": 0}

XSS = ['<script>alert("cc")</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "';alert(1);//"]
SQLI = ["' OR '1'='1", "1; DROP TABLE patients; --", "' UNION SELECT nhs_number FROM patients --", '"; --']
HOSTILE = (
    XSS + SQLI + ["\u0000", "\ud7ff\ufeff\u202e", "x" * 100_000, "名前😀", "%00", "../../etc/passwd", "-1", "1e999"]
)


def _token(client) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/accessibility").text)
    return m.group(1) if m else ""


def _assert_envelope(response) -> None:
    body = response.json()
    assert isinstance(body, dict) and "ok" in body, body
    if not body["ok"]:
        assert {"status", "title", "detail"} <= set(body["error"]), body


def _runner(operation, mode, headers: dict, cookies: dict, failures: list[str]):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=API_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case):
        TRIED["openapi"] += 1
        response = case.call(headers=headers, cookies=cookies)
        if response.status_code >= 500:
            failures.append(f"{operation.label} {mode.value}: {response.status_code}")
            return
        _assert_envelope(response)

    return run


@pytest.mark.parametrize("username", [None, "ig.lead", "analyst.london"])
def test_openapi_operations_never_500(rel_app, client_as, username):
    """Positive and negative cases for every operation, anonymous and as the two API roles with most access."""
    client = client_as(username)
    cookies = dict(client.cookies)
    headers = {"X-CSRF-Token": client.get("/api/v1/me").json()["data"]["csrf_token"]} if username else {}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", rel_app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            runner = _runner(operation, mode, headers, cookies, failures)
            try:
                runner()
            except Exception as err:  # noqa: BLE001 - schemathesis cannot generate for some negative modes
                if "Unsatisfiable" not in type(err).__name__ and "Generation" not in type(err).__name__:
                    raise
    assert not failures, failures


def _count(url: str, model) -> int:
    with make_sessionmaker(make_engine(url))() as session:
        return session.scalar(select(func.count()).select_from(model))


def _gp_and_patient(rel_env) -> tuple[str, int]:
    p1 = next(o for u, (r, o) in rel_env.users.items() if u == "gp." + str(o).lower())
    return f"gp.{p1.lower()}", rel_env.patient_id


def test_free_text_fields_escape_and_never_500(rel_env, client_as):
    """Every free-text field of every care form, with XSS, SQL injection and hostile values."""
    gp, pid = _gp_and_patient(rel_env)
    nurse = next(u for u, (r, _o) in rel_env.users.items() if r == "nurse")
    client = client_as(gp)
    token = _token(client)
    problems: list[str] = []

    def check(r, where: str, payload: str) -> None:
        TRIED["forms"] += 1
        if r.status_code >= 500:
            problems.append(f"{where}: {r.status_code}")
        if payload in XSS and "<" in payload and payload in r.text:
            problems.append(f"{where}: payload rendered unescaped")
        if re.search(r'(href|src|action)="\s*javascript:', r.text, re.I):
            problems.append(f"{where}: javascript: URL rendered into a link")

    for payload in HOSTILE:
        r = client.post(
            "/care/tasks",
            data={"patient_id": pid, "title": payload, "detail": payload, "to_user_id": nurse, "csrf_token": token},
        )
        check(r, "task create", payload)
        task_url = str(r.url) if r.status_code == 200 and "/care/tasks/" in str(r.url) else None
        if task_url:
            tid = re.search(r"/care/tasks/(\d+)", task_url).group(1)
            r = client.post(f"/care/tasks/{tid}/comment", data={"version": "1", "note": payload, "csrf_token": token})
            check(r, "task comment", payload)
        fields = {"title": payload, "summary": payload, "review_date": "2027-01-01", "status": "active"}
        fields.update({"goal_0": payload, "action_0": payload, "csrf_token": token})
        r = client.post(f"/care/patients/{pid}/care-plans", data=fields)
        check(r, "care plan create", payload)
        r = client.post(f"/care/patients/{pid}/care-plans", data={**fields, "review_date": payload, "status": payload})
        check(r, "care plan bad date/status", payload)
        r = client.get("/care/patients", params={"q": payload[:60]})
        check(r, "patient search", payload)
        r = client.get("/care/tasks/new", params={"patient_id": payload[:2000]})
        check(r, "task form patient_id", payload)
        r = client.get("/symptoms", params={"q": payload[:2000]})
        check(r, "symptom search", payload)
        r = client.get("/api/v1/symptoms", params={"q": payload[:2000], "category": payload[:2000]})
        check(r, "api symptom search", payload)
    ig = client_as("ig.lead")
    ig_token = _token(ig)
    for payload in HOSTILE:
        r = ig.post(
            "/governance/agreements",
            data={"name": payload, "from_org": payload, "to_org": payload, "purposes": payload, "csrf_token": ig_token},
        )
        check(r, "agreement create", payload)
        r = ig.get(
            "/governance/audit", params={"user": payload[:2000], "action": payload[:2000], "purpose": payload[:2000]}
        )
        check(r, "audit filter", payload)
        r = ig.get(f"/dashboards/borough/{quote(payload[:200], safe='')}", params={"register": payload[:20]})
        check(r, "dashboard ids", payload)
    assert not problems, problems


def test_sql_injection_does_not_widen_search(rel_env, client_as):
    """A family-name search with injection payloads finds no more patients than an honest search would."""
    gp, _pid = _gp_and_patient(rel_env)
    client = client_as(gp)
    for payload in SQLI + ["%", "_", "' OR 1=1 --"]:
        r = client.get("/care/patients", params={"q": payload})
        assert r.status_code == 200
        shown = set(re.findall(r"/care/patients/(\d+)", r.text))
        assert len(shown) == 0 or payload in ("%", "_"), (payload, len(shown))
    # Names are Relfam<id>x: an exact prefix finds that patient (the search itself works).
    r = client.get("/care/patients", params={"q": family_name(rel_env.patient_id)})
    assert f"/care/patients/{rel_env.patient_id}" in r.text


def test_write_with_non_numeric_version_is_a_400(rel_env, client_as):
    """The optimistic-locking 'version' field is user-controllable: garbage must be a 400, not a 500."""
    gp, pid = _gp_and_patient(rel_env)
    nurse = next(u for u, (r, _o) in rel_env.users.items() if r == "nurse")
    client = client_as(gp)
    token = _token(client)
    r = client.post(
        "/care/tasks",
        data={"patient_id": pid, "title": "version probe", "to_user_id": nurse, "csrf_token": token},
        follow_redirects=False,
    )
    tid = re.search(r"/care/tasks/(\d+)", r.headers["location"]).group(1)
    codes = {}
    for version in ("abc", "1.5", "9" * 30):
        for action in ("comment", "status"):
            data = {"version": version, "note": "n", "status": "done", "csrf_token": token}
            codes[(action, version[:5])] = client.post(f"/care/tasks/{tid}/{action}", data=data).status_code
    r = client.get(f"/care/patients/{pid}")
    plan_ids = re.findall(r"/care/care-plans/(\d+)/edit", r.text)
    for plan_id in plan_ids[:1]:
        for version in ("abc", "9" * 30):
            data = {"version": version, "title": "t", "status": "active", "csrf_token": token}
            codes[("plan", version[:5])] = client.post(f"/care/care-plans/{plan_id}", data=data).status_code
    assert all(code == 400 for code in codes.values()), codes  # finding 1 in docs/reliability.md (fixed)


STATE_CHANGING = [
    ("/care/tasks", {"patient_id": "{pid}", "title": "csrf probe", "to_user_id": "{nurse}"}, Task),
    ("/care/patients/{pid}/care-plans", {"title": "csrf probe", "status": "active"}, CarePlan),
    ("/governance/agreements", {"name": "csrf probe"}, Agreement),
    ("/api/v1/governance/audit/verify", {}, AuditEntry),
    ("/care/tasks/1/comment", {"version": "1", "note": "csrf"}, TaskEvent),
]


@pytest.mark.parametrize("how", ["missing", "wrong", "other_session"])
def test_csrf_refused_and_nothing_written(rel_env, client_as, how):
    gp, pid = _gp_and_patient(rel_env)
    nurse = next(u for u, (r, _o) in rel_env.users.items() if r == "nurse")
    attacker = client_as("ig.lead" if how != "other_session" else gp)
    stolen = _token(client_as("analyst.london"))  # a valid token, but of another session
    for username in (gp, "ig.lead"):
        client = client_as(username)
        for path, form, model in STATE_CHANGING:
            url = path.format(pid=pid)
            data = {k: v.format(pid=pid, nurse=nurse) for k, v in form.items()}
            if how == "wrong":
                data["csrf_token"] = "forged-" + "a" * 30
            elif how == "other_session":
                data["csrf_token"] = stolen
            before = _count(rel_env.url, model)
            r = client.post(url, data=data, follow_redirects=False)
            assert r.status_code == 403, (how, username, url, r.status_code)
            assert _count(rel_env.url, model) == before, (how, url)
    assert attacker is not None


def test_report_cases_tried():
    print(f"\napi fuzz cases tried: {TRIED}")
    assert all(n == 0 or n >= 10 for n in TRIED.values()), TRIED
