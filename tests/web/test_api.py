"""Every documented /api/v1 endpoint, the envelope on success and on every kind of error, and the OpenAPI docs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.testclient import TestClient

from carecommons.core.errors import AccessDenied, InvalidInput, NotFound
from carecommons.web.app import create_app

#: (method, path template) of every documented endpoint; test_openapi_lists_exactly_these keeps it honest.
DOCUMENTED = {
    ("get", "/api/v1/health"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/measures"),
    ("get", "/api/v1/dashboards/{level}/{org_id}"),
    ("get", "/api/v1/symptoms"),
    ("get", "/api/v1/symptoms/{slug}"),
    ("get", "/api/v1/governance/agreements"),
    ("post", "/api/v1/governance/audit/verify"),
    ("get", "/api/v1/governance/opt-outs"),
    ("get", "/api/v1/transparency"),
}


def _ok(r) -> dict:
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["ok"] is True and set(body) == {"ok", "data", "meta"}
    return body


def _err(r, status: int) -> dict:
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["ok"] is False and set(body["error"]) == {"status", "title", "detail", "fix"}
    assert body["error"]["status"] == status
    return body["error"]


def test_openapi_lists_exactly_the_tested_endpoints(client):
    spec = client.get("/api/openapi.json").json()
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    care = {(m, p) for m, p in found if "/care" in p or "/portal" in p or "/worklists" in p or "/mdt" in p}
    assert found - care == DOCUMENTED
    assert client.get("/api/docs").status_code == 200
    assert "ErrorEnvelope" in spec["components"]["schemas"]


def test_health_and_transparency_need_no_sign_in(client):
    assert _ok(client.get("/api/v1/health"))["data"]["status"] == "ok"
    data = _ok(client.get("/api/v1/transparency"))["data"]
    assert data["agreements_in_force"]
    purposes = {a["purpose"] for a in data["accesses_last_30_days"]}
    assert purposes == {"direct_care", "planning", "research"}
    for a in data["accesses_last_30_days"]:
        assert a["count"] is None or a["count"] % 5 == 0


def test_signed_in_endpoints_refuse_anonymous_with_401(client):
    for path in ("/api/v1/me", "/api/v1/symptoms", "/api/v1/dashboards/london/LONDON", "/api/v1/governance/agreements"):
        err = _err(client.get(path), 401)
        assert "Sign in" in err["fix"]


def test_me_and_measures(as_user):
    c = as_user("analyst.icb", "planning")
    me = _ok(c.get("/api/v1/me"))["data"]
    assert me["org_id"] == "icb:NCL" and me["purpose"] == "planning" and len(me["csrf_token"]) > 20
    m = _ok(c.get("/api/v1/measures"))["data"]
    from carecommons.definitions.library import load_library

    library = {d.id: d for d in load_library().all_definitions()}
    assert {r["id"] for r in m["registers"]} >= {"HYP_REG", "DM_REG", "AST_REG"}
    for row in m["registers"] + m["indicators"]:
        assert row["version"] == library[row["id"]].version and row["codelists"]


def test_dashboard_endpoint_for_each_level(as_user):
    c = as_user("analyst.london", "planning")
    body = _ok(c.get("/api/v1/dashboards/london/anything?definition=AST_REG"))
    assert body["data"]["org"]["id"] == "LONDON" and body["data"]["definition"]["id"] == "AST_REG"
    assert body["meta"]["disclosure"] and body["meta"]["run_id"] and body["meta"]["snapshot_id"]
    ics = body["data"]["children"][0]
    sub = _ok(c.get(f"/api/v1/dashboards/ics/{ics['id']}"))["data"]
    assert sub["org"]["name"] == ics["name"] and all(ch["level"] == "borough" for ch in sub["children"])


def test_symptom_endpoints(as_user, web_env):
    c = as_user(next(u for u, (role, _) in web_env.users.items() if role == "gp"))
    body = _ok(c.get("/api/v1/symptoms?q=headache"))
    assert body["meta"]["count"] == len(body["data"]) > 0 and body["meta"]["needs_sign_off"] is True
    first = body["data"][0]
    one = _ok(c.get(f"/api/v1/symptoms/{first['slug']}"))["data"]
    assert one["red_flags"] and one["references"][0]["url"].startswith("http")
    _err(c.get("/api/v1/symptoms/nope"), 404)
    err = _err(c.get("/api/v1/symptoms?q=" + "x" * 101), 422)
    assert "q" in err["detail"] and "x" * 50 not in err["detail"]


def test_governance_endpoints(as_user):
    c = as_user("ig.lead")
    rows = _ok(c.get("/api/v1/governance/agreements"))["data"]
    assert rows and all(r["permissions"] for r in rows)
    token = _ok(c.get("/api/v1/me"))["data"]["csrf_token"]
    result = _ok(c.post("/api/v1/governance/audit/verify", headers={"X-CSRF-Token": token}))["data"]
    assert result["ok"] is True and result["checked"] > 0
    _err(c.post("/api/v1/governance/audit/verify"), 403)  # no token
    f = _ok(c.get("/api/v1/governance/opt-outs"))["data"]
    assert f["total"]["opted_out"] % 5 == 0 and {row["name"] for row in f["icb"]}


def test_governance_endpoints_refuse_other_roles(as_user):
    c = as_user("analyst.london", "planning")
    err = _err(c.get("/api/v1/governance/agreements"), 403)
    assert err["title"] == "Access denied"


def test_unknown_api_route_and_method_use_the_envelope(as_user):
    c = as_user("ig.lead")
    _err(c.get("/api/v1/nothing-here"), 404)
    _err(c.delete("/api/v1/health", headers={"X-CSRF-Token": "forged"}), 403)  # CSRF is checked before routing
    token = _ok(c.get("/api/v1/me"))["data"]["csrf_token"]
    _err(c.delete("/api/v1/health", headers={"X-CSRF-Token": token}), 405)


def test_errors_of_every_kind_become_envelopes(settings):
    app = create_app(settings)
    boom = APIRouter()

    @boom.get("/api/v1/test/{kind}")
    def _raise(kind: str):
        errors = {
            "invalid": InvalidInput("field x", "is wrong", "give a number"),
            "missing": NotFound("practice", "does not exist", "pick one"),
            "denied": AccessDenied("purpose", "not allowed", "ask IG"),
        }
        if kind in errors:
            raise errors[kind]
        raise RuntimeError("secret patient value 9434765919")

    app.include_router(boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert _err(c.get("/api/v1/test/invalid"), 400)["fix"] == "give a number"
        assert _err(c.get("/api/v1/test/missing"), 404)["detail"] == "practice: does not exist"
        assert _err(c.get("/api/v1/test/denied"), 403)["title"] == "Access denied"
        err = _err(c.get("/api/v1/test/crash"), 500)
        assert "9434765919" not in str(err)


def test_html_errors_are_pages_not_json(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in r.text
