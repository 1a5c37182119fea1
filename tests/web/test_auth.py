"""Sign-in, sessions, purposes, CSRF and the login rate limit, through the real app and governance users."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from carecommons.core.errors import ConfigurationError
from carecommons.governance import users
from carecommons.governance.purposes import Purpose
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.app import SESSION_COOKIE, create_app
from carecommons.web.auth import Identity, IdentityProvider, InMemoryIdentityProvider, OIDCIdentityProvider
from carecommons.web.security import LoginRateLimiter
from tests.web.conftest import csrf_from, login


def test_sign_in_sends_each_role_home(client, web_env):
    r = login(client, "ig.lead", web_env.password)
    assert r.status_code == 303 and r.headers["location"] == "/governance"
    page = client.get("/governance")
    assert page.status_code == 200
    assert "Information-governance lead" in page.text and "Planning" in page.text


def test_analyst_chooses_purpose_and_requester_carries_it(client, web_env):
    r = login(client, "analyst.london", web_env.password, purpose="research")
    assert r.status_code == 303
    me = client.get("/api/v1/me").json()["data"]
    assert me["purpose"] == "research"
    assert set(me["allowed_purposes"]) == {"planning", "research"}
    assert me["org_id"] == "london" and me["role"] == "analyst"


def test_research_needs_an_approved_project(client, web_env):
    from carecommons.governance.seed import DEMO_PROJECT_ID

    login(client, "analyst.icb", web_env.password, purpose="research")
    r = client.get("/api/v1/dashboards/london/LONDON")
    assert r.status_code == 403 and "project" in r.json()["error"]["detail"].lower()
    page = client.get("/purpose")
    assert 'id="project_id"' in page.text
    client.post(
        "/purpose", data={"purpose": "research", "project_id": DEMO_PROJECT_ID, "csrf_token": csrf_from(page.text)}
    )
    me = client.get("/api/v1/me").json()["data"]
    assert (me["purpose"], me["project_id"]) == ("research", DEMO_PROJECT_ID)
    assert client.get("/api/v1/dashboards/london/LONDON").status_code == 200
    client.post(
        "/purpose", data={"purpose": "planning", "project_id": DEMO_PROJECT_ID, "csrf_token": csrf_from(page.text)}
    )
    assert client.get("/api/v1/me").json()["data"]["project_id"] is None


def test_purpose_outside_role_is_refused(client, web_env):
    login(client, "analyst.london", web_env.password, purpose="planning")
    page = client.get("/purpose")
    r = client.post("/purpose", data={"purpose": "direct_care", "csrf_token": csrf_from(page.text), "next": "/"})
    assert r.status_code == 400
    assert client.get("/api/v1/me").json()["data"]["purpose"] == "planning"


def test_wrong_password_is_refused_without_saying_which_part(client, web_env):
    r = login(client, "analyst.london", "not-the-password")
    assert r.status_code == 400
    assert "The username or password is not right" in r.text
    assert client.get("/api/v1/me").status_code == 401


def test_session_cookie_is_httponly_and_samesite_lax(client, web_env):
    token = csrf_from(client.get("/login").text)
    r = client.post(
        "/login",
        data={"username": "ig.lead", "password": web_env.password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    header = r.headers["set-cookie"].lower()
    assert header.startswith(SESSION_COOKIE + "=")
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header


def test_login_rate_limit_gives_429_with_retry_after(settings, web_env):
    client = TestClient(create_app(settings))
    for _ in range(5):
        assert login(client, "analyst.icb", "wrong").status_code == 400
    r = login(client, "analyst.icb", web_env.password)  # even the right password waits
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    # another username from the same client is not blocked
    assert login(client, "analyst.pcn", web_env.password).status_code == 303


def test_post_without_csrf_token_is_refused(client, web_env):
    login(client, "ig.lead", web_env.password)
    r = client.post("/governance/agreements", data={"name": "x"})
    assert r.status_code == 403
    assert "security token" in r.text
    r = client.post("/api/v1/governance/audit/verify", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["ok"] is False


def test_login_form_needs_its_token(client, web_env):
    fresh = TestClient(client.app)
    r = fresh.post("/login", data={"username": "analyst.london", "password": web_env.password})
    assert r.status_code == 403


def test_next_parameter_cannot_redirect_off_site(client, web_env):
    token = csrf_from(client.get("/login").text)
    r = client.post(
        "/login",
        data={"username": "ig.lead", "password": web_env.password, "csrf_token": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/governance"


def test_signed_out_pages_redirect_to_login_with_next(client):
    r = client.get("/dashboards/london?definition=DM_REG", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=%2Fdashboards%2Flondon%3Fdefinition%3DDM_REG")


def test_sign_out_ends_the_session(client, web_env):
    login(client, "ig.lead", web_env.password)
    page = client.get("/governance")
    r = client.post("/logout", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_deactivated_account_stops_working_at_once(settings, web_env):
    sessions = make_sessionmaker(make_engine(web_env.url))
    with sessions() as s:
        users.create_user(s, "temp.analyst", "pw-12345678", "analyst", "london", "Temporary")
    with TestClient(create_app(settings)) as c:
        assert login(c, "temp.analyst", "pw-12345678").status_code == 303
        assert c.get("/api/v1/me").status_code == 200
        with sessions() as s:
            users.deactivate(s, "temp.analyst")
        assert c.get("/api/v1/me").status_code == 401


def test_a_replacement_identity_provider_is_used(settings):
    provider = InMemoryIdentityProvider(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    provider.add("kiosk", "kiosk-password", Identity("kiosk", "Kiosk", "analyst", "london"))
    assert isinstance(provider, IdentityProvider)
    with TestClient(create_app(settings, identity_provider=provider)) as c:
        assert login(c, "analyst.london", "carecommons-demo").status_code == 400  # database accounts not consulted
        assert login(c, "kiosk", "kiosk-password").status_code == 303
        assert c.get("/api/v1/me").json()["data"]["user_id"] == "kiosk"


def test_in_memory_provider_rejects_unknown_and_wrong():
    provider = InMemoryIdentityProvider(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    provider.add("Ann", "secret-1", Identity("u1", "Ann", "gp", "E1"))
    assert provider.authenticate("ann", "secret-1").user_id == "u1"
    assert provider.authenticate("ann", "secret-2") is None
    assert provider.authenticate("bob", "secret-1") is None
    assert provider.get("u1").allowed_purposes() == (Purpose.DIRECT_CARE,)
    assert provider.get("nobody") is None


def test_oidc_placeholder_refuses_password_sign_in():
    oidc = OIDCIdentityProvider(issuer="https://issuer.example", client_id="carecommons")
    with pytest.raises(ConfigurationError):
        oidc.authenticate("a", "b")
    assert oidc.get("a") is None


def test_rate_limiter_window_slides():
    now = [1000.0]
    limiter = LoginRateLimiter(max_failures=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.failed("Ann", "1.2.3.4")
    assert limiter.retry_after("ann", "1.2.3.4") == 60
    assert limiter.retry_after("ann", "5.6.7.8") == 0
    now[0] += 30
    assert limiter.retry_after("ann", "1.2.3.4") == 30
    now[0] += 30
    assert limiter.retry_after("ann", "1.2.3.4") == 0
    limiter.failed("ann", "1.2.3.4")
    limiter.succeeded("ann", "1.2.3.4")
    assert limiter.retry_after("ann", "1.2.3.4") == 0
