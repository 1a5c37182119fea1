"""Reliability fixtures: one small record store + operational DB per session, and signed-in clients per role.

The environment is built through the layers' public functions (the web demo store, `store.migrate.upgrade`,
`governance.seed.seed_demo`), so the suites test the real access policy, CSRF middleware and error envelope.
Sign-in goes through the real login form once per (user, purpose); argon2 is deliberately slow, so later
requests reuse the session cookie.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from rel_helpers import family_name, nhs_number

from carecommons.governance.seed import DEMO_PASSWORD, DEMO_PROJECT_ID, seed_demo
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.app import SESSION_COOKIE, create_app
from carecommons.web.demo import build_demo_store
from carecommons.web.settings import Settings

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PURPOSE_RE = re.compile(r'name="purpose" type="radio" value="([^"]+)"')


@dataclass(frozen=True)
class RelEnv:
    store: Path
    url: str
    users: dict[str, tuple[str, str | None]]  # username -> (role, org_id)
    patient_id: int | None  # the demo patient's own record (patient.demo, carer.demo's consented person)


@pytest.fixture(scope="session")
def rel_env(tmp_path_factory) -> RelEnv:
    root = tmp_path_factory.mktemp("reliability")
    store = build_demo_store(root / "store.duckdb", patients=1500)
    con = duckdb.connect(str(store))
    try:  # traceable identifiers (rel_helpers) so leak checks can search every response body for them
        con.create_function("rel_family", family_name, ["BIGINT"], "VARCHAR")
        con.create_function("rel_nhs", nhs_number, ["BIGINT"], "VARCHAR")
        con.execute("UPDATE patients SET family_name = rel_family(patient_id), nhs_number = rel_nhs(patient_id)")
    finally:
        con.close()
    url = f"sqlite:///{root / 'operational.sqlite'}"
    upgrade(url)
    con = duckdb.connect(str(store), read_only=True)
    try:
        with make_sessionmaker(make_engine(url))() as session:
            seed = seed_demo(session, con)
            session.commit()
    finally:
        con.close()
    return RelEnv(store, url, {u.username: (u.role, u.org_id) for u in seed.users}, seed.patient_id)


@pytest.fixture(scope="session")
def rel_app(rel_env: RelEnv):
    settings = Settings(store_path=rel_env.store, operational_url=rel_env.url, secret_key="reliability-" + "k" * 24)
    return create_app(settings)


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, purpose: str | None = None) -> None:
    """Sign in through the real form, choosing `purpose` when the role offers several."""
    token = csrf_from(client.get("/login").text)
    r = client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, f"sign-in of {username} failed: {r.status_code}"
    if r.headers["location"].startswith("/purpose"):
        page = client.get(r.headers["location"])
        offered = PURPOSE_RE.findall(page.text)
        chosen = purpose or offered[0]
        assert chosen in offered, f"{username} is not offered {chosen}"
        data = {"purpose": chosen, "next": "/", "csrf_token": csrf_from(page.text)}
        if chosen == "research":
            data["project_id"] = DEMO_PROJECT_ID
        r = client.post("/purpose", data=data, follow_redirects=False)
        assert r.status_code == 303, f"purpose choice of {username} failed: {r.status_code}"


@pytest.fixture(scope="session")
def _cookies() -> dict:
    return {}


@pytest.fixture
def client_as(rel_app, _cookies) -> Callable[[str | None, str | None], TestClient]:
    """client_as("gp.x", None) gives a TestClient signed in as that user (None: anonymous)."""
    clients: list[TestClient] = []

    def _make(username: str | None, purpose: str | None = None) -> TestClient:
        c = TestClient(rel_app, raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        if username is None:
            return c
        key = (username, purpose)
        if key in _cookies:
            c.cookies.set(SESSION_COOKIE, _cookies[key])
        else:
            sign_in(c, username, purpose)
            _cookies[key] = c.cookies.get(SESSION_COOKIE)
        return c

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


def me_token(client: TestClient) -> str:
    """The CSRF token of a signed-in API client (GET /api/v1/me returns it)."""
    body = client.get("/api/v1/me").json()
    return body["data"]["csrf_token"]
