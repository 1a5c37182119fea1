"""Web fixtures: one small record store + operational DB per test session, a fresh app per test.

The store is the web demo store (synthetic rows written straight into the canonical tables); governance's
own `seed_demo` creates organisations, users of every role and agreements over it, so the web app is
tested against the real access policy, audit chain and disclosure control.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from carecommons.governance.seed import DEMO_PASSWORD, seed_demo
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.app import SESSION_COOKIE, create_app
from carecommons.web.demo import build_demo_store
from carecommons.web.settings import Settings

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class WebEnv:
    store: Path
    url: str
    password: str
    users: dict[str, tuple[str, str | None]]  # username -> (role, org_id)


def make_env(root: Path, patients: int = 2000) -> WebEnv:
    store = build_demo_store(root / "store.duckdb", patients=patients)
    url = f"sqlite:///{root / 'operational.sqlite'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    con = duckdb.connect(str(store), read_only=True)
    try:
        with sessions() as session:
            seed = seed_demo(session, con)
    finally:
        con.close()
    return WebEnv(store, url, DEMO_PASSWORD, {u.username: (u.role, u.org_id) for u in seed.users})


@pytest.fixture(scope="session")
def web_env(tmp_path_factory) -> WebEnv:
    return make_env(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def settings(web_env: WebEnv) -> Settings:
    return Settings(store_path=web_env.store, operational_url=web_env.url, secret_key="test-secret-" + "x" * 20)


@pytest.fixture(scope="session")
def shared_app(settings: Settings):
    """One app for the session (its aggregate and chart caches warm once); each test gets its own client/cookies.

    Tests that change app state (rate limiter, identity provider) build their own app instead.
    """
    return create_app(settings)


@pytest.fixture
def client(shared_app):
    with TestClient(shared_app) as c:
        yield c


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str, purpose: str | None = None):
    """Sign in through the real form (CSRF token from the page); choose `purpose` if the role offers several."""
    token = csrf_from(client.get("/login").text)
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    if r.status_code == 303 and r.headers["location"].startswith("/purpose"):
        page = client.get(r.headers["location"])
        chosen = purpose or re.search(r'name="purpose" type="radio" value="([^"]+)"', page.text).group(1)
        r = client.post(
            "/purpose",
            data={"purpose": chosen, "next": "/", "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
    return r


@pytest.fixture(scope="session")
def _signed_in_cookies() -> dict:
    return {}


@pytest.fixture
def as_user(client: TestClient, web_env: WebEnv, _signed_in_cookies: dict):
    """as_user("analyst.london") signs the client in and returns it.

    The first sign-in per (user, purpose) goes through the form; later tests reuse its session cookie, because
    argon2 verification is deliberately slow and sign-in itself is tested in test_auth.py.
    """

    def _sign_in(username: str, purpose: str | None = None) -> TestClient:
        key = (username, purpose)
        if key in _signed_in_cookies:
            client.cookies.set(SESSION_COOKIE, _signed_in_cookies[key])
            if client.get("/api/v1/me").status_code == 200:
                return client
        r = login(client, username, web_env.password, purpose)
        assert r.status_code == 303, r.text[:500]
        _signed_in_cookies[key] = client.cookies.get(SESSION_COOKIE)
        return client

    return _sign_in


# The care pages' fixtures: a store with names and linked hospital/social-care rows (tests/care/care_testdata.py)
# plus governance's demo seed, one per test module that asks for it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "care"))
care_testdata = importlib.import_module("care_testdata")


@pytest.fixture(scope="module")
def care_env(tmp_path_factory):
    return care_testdata.make_care_web_env(tmp_path_factory.mktemp("careweb"))


@pytest.fixture
def as_care_user(care_env):
    """Sign in as a care user through the real form; each call a fresh client on the module's care store."""
    settings = Settings(
        store_path=Path(care_env.store), operational_url=care_env.url, secret_key="care-secret-" + "y" * 20
    )
    clients = []

    def _sign_in(username: str) -> TestClient:
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        r = login(client, username, care_env.password)
        assert r.status_code == 303, r.text[:300]
        return client

    yield _sign_in
    for c in clients:
        c.__exit__(None, None, None)
