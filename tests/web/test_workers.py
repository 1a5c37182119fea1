"""Several worker processes: what one worker learns (failed sign-ins, built dashboards) every worker sees,
and a real `carecommons serve --workers 2` keeps sessions, CSRF and sign-in throttling working."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from carecommons.core.errors import CarecommonsError
from carecommons.web.app import create_app
from carecommons.web.shared import SharedLoginRateLimiter, SharedState
from tests.web.conftest import csrf_from, login


def test_two_limiters_over_one_file_share_failures(tmp_path):
    """Two processes' limiters (here two objects over the same file) count the same failures."""
    now = [1000.0]
    a = SharedLoginRateLimiter(
        SharedState(tmp_path / "s.sqlite"), max_failures=3, window_seconds=60, clock=lambda: now[0]
    )
    b = SharedLoginRateLimiter(
        SharedState(tmp_path / "s.sqlite"), max_failures=3, window_seconds=60, clock=lambda: now[0]
    )
    a.failed("Ann", "1.2.3.4")
    b.failed("ann", "1.2.3.4")
    assert a.retry_after("ann", "1.2.3.4") == 0
    a.failed("ANN ", "1.2.3.4")
    assert b.retry_after("ann", "1.2.3.4") == 60
    assert b.retry_after("ann", "5.6.7.8") == 0
    now[0] += 30
    assert a.retry_after("ann", "1.2.3.4") == 30
    now[0] += 30
    assert b.retry_after("ann", "1.2.3.4") == 0
    b.failed("ann", "1.2.3.4")
    a.succeeded("ann", "1.2.3.4")
    assert b.retry_after("ann", "1.2.3.4") == 0


def test_a_dashboard_built_by_one_worker_is_read_by_another(settings, web_env, tmp_path):
    """Two apps over one shared file stand for two workers: the second gets the first one's published page
    (same figures) without building it, and sign-in throttling counts across both."""
    shared = dataclasses.replace(settings, shared_state_path=tmp_path / "shared.sqlite")
    one, two = create_app(shared), create_app(shared)
    with TestClient(one) as c1, TestClient(two) as c2:
        assert login(c1, "analyst.london", web_env.password).status_code == 303
        assert login(c2, "analyst.london", web_env.password).status_code == 303
        borough = _a_borough(c1)  # London and an ICS, built by worker one
        store = one.state.cc.shared
        n = store.execute("SELECT count(*) FROM dashboards")[0][0]
        r1 = c1.get(f"/api/v1/dashboards/borough/{borough}")
        assert r1.status_code == 200, r1.text[:300]
        assert store.execute("SELECT count(*) FROM dashboards")[0][0] == n + 1
        assert two.state.cc.dashboard_cache == {}
        r2 = c2.get(f"/api/v1/dashboards/borough/{borough}")
        assert r2.json()["data"] == r1.json()["data"]
        assert len(two.state.cc.dashboard_cache) == 1  # read from the shared file, now in worker two's memory
        assert store.execute("SELECT count(*) FROM dashboards")[0][0] == n + 1
        # A chart image drawn for worker one's page is kept in the shared file for every worker.
        chart = f"/dashboards/borough/{borough}/charts/spc.svg"
        drawn = c1.get(chart)
        assert drawn.status_code == 200 and drawn.text.startswith("<svg")
        assert store.execute("SELECT count(*) FROM dashboards WHERE key LIKE 'svg%'")[0][0] == 1
        assert c2.get(chart).text == drawn.text
        for _ in range(5):
            assert login(c1 if _ % 2 else c2, "analyst.icb", "wrong").status_code == 400
        assert login(c1, "analyst.icb", web_env.password).status_code == 429
        assert login(c2, "analyst.icb", web_env.password).status_code == 429


def _a_borough(client: TestClient) -> str:
    """A borough code, found by drilling down London -> ICS through the API."""
    london = client.get("/api/v1/dashboards/london/LONDON").json()["data"]
    ics = client.get(f"/api/v1/dashboards/ics/{london['children'][0]['id']}").json()["data"]
    return ics["children"][0]["id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_workers(web_env, tmp_path):
    """A real `carecommons serve --workers 2` over the test store (its shared file in a temporary copy's
    directory, so other tests' apps are not affected); stopped with SIGINT, killed if it hangs."""
    store = tmp_path / "store.duckdb"
    store.write_bytes(web_env.store.read_bytes())
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CARECOMMONS_SECRET_KEY"}  # the parent must make one
    cmd = [str(Path(sys.executable).with_name("carecommons")), "serve", "--port", str(port), "--workers", "2",
           "--store", str(store), "--database-url", web_env.url, "--no-warm"]  # fmt: skip
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - open for the server's life
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("server did not start: " + (tmp_path / "serve.log").read_text()[-1500:])
        yield base, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _worker_pids(parent: int) -> set[int]:
    """The uvicorn workers under `parent` (not multiprocessing's resource tracker)."""
    out = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(parent)], capture_output=True, text=True
    ).stdout
    return {int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line}


@pytest.mark.slow
def test_serve_with_two_workers_keeps_sessions_csrf_and_throttling(two_workers, web_env):
    base, proc = two_workers
    assert len(_worker_pids(proc.pid)) == 2
    # New connection per request, so the kernel spreads them over both workers.
    cookies: dict[str, str] = {}

    def get(path: str) -> httpx.Response:
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
            r = c.get(path)
            cookies.update(dict(r.cookies))
            return r

    def post(path: str, data: dict) -> httpx.Response:
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
            r = c.post(path, data=data, follow_redirects=False)
            cookies.update(dict(r.cookies))
            return r

    token = csrf_from(get("/login").text)
    r = post("/login", {"username": "ig.lead", "password": web_env.password, "csrf_token": token, "next": "/"})
    assert r.status_code == 303
    for _ in range(12):  # every request, whichever worker takes it, sees the signed-in session
        assert get("/api/v1/me").status_code == 200
    page = get("/governance/audit")
    assert page.status_code == 200
    token = csrf_from(page.text)
    assert post("/governance/audit/verify", {"csrf_token": "forged"}).status_code == 403
    for _ in range(4):
        assert post("/governance/audit/verify", {"csrf_token": token}).status_code in (200, 303)
    # Five failures spread over the workers block the sixth attempt on every worker.
    for _ in range(5):
        with httpx.Client(base_url=base, timeout=60) as c:
            t = csrf_from(c.get("/login").text)
            assert (
                c.post("/login", data={"username": "analyst.pcn", "password": "no", "csrf_token": t}).status_code == 400
            )
    for _ in range(6):
        with httpx.Client(base_url=base, timeout=60) as c:
            t = csrf_from(c.get("/login").text)
            r = c.post("/login", data={"username": "analyst.pcn", "password": web_env.password, "csrf_token": t})
            assert r.status_code == 429


@pytest.mark.slow
def test_an_idle_connection_outlives_a_readers_pause(two_workers):
    """A person reads a page for several seconds before the next click; the server must not close the idle
    keep-alive connection under them (uvicorn's 5 s default did: the click then failed as 'server disconnected')."""
    from carecommons.cli.web_cmd import KEEP_ALIVE_SECONDS

    base, _proc = two_workers
    port = int(base.rsplit(":", 1)[1])
    request = f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        for pause in (0, 7):  # 7 s: past uvicorn's default, well inside ours
            time.sleep(pause)
            conn.sendall(request)
            status = _read_response(conn)
            assert status.startswith(b"HTTP/1.1 200"), (pause, status)
    assert KEEP_ALIVE_SECONDS >= 60


def _read_response(conn: socket.socket) -> bytes:
    """Read one whole HTTP/1.1 response (head + Content-Length body) and return its status line; b'' if the
    server closed the connection instead of answering."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data.split(b"\r\n", 1)[0]
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head.split(b"\r\n", 1)[0]


def test_warm_up_builds_every_default_dashboard_once_and_again_after_an_opt_out(settings, web_env, tmp_path):
    """One warm pass publishes every organisation's default page into the shared file; a second pass (another
    worker, or the next poll) builds nothing; an opt-out changes the cohort fingerprint, so the next pass
    (after the aggregates refresh) builds the pages again rather than reusing pages that counted that patient."""
    import duckdb

    from carecommons.governance.optouts import set_patient_choice
    from carecommons.web.aggregates import latest_run
    from carecommons.web.warm import Warmer, organisations, planning_requesters
    from tests.web.test_aggregates import first_patient

    shared = dataclasses.replace(settings, shared_state_path=tmp_path / "shared.sqlite", aggregate_ttl_seconds=0.0)
    one, two = create_app(shared), create_app(shared)
    con = duckdb.connect(str(web_env.store), read_only=True)
    try:
        run_id = latest_run(con)[0]
    finally:
        con.close()
    built = Warmer(one.state.cc).warm_once(run_id)
    cohorts = {}
    for requester in planning_requesters(one.state.cc.session_factory):
        try:
            aggs = one.state.cc.aggregates.get(requester, one.state.cc.session_factory)
        except CarecommonsError:  # accounts without an agreement are skipped by the warm-up too
            continue
        cohorts[aggs.cohort] = aggs
    assert built == sum(len(organisations(a)) for a in cohorts.values()) > 0
    assert Warmer(two.state.cc).warm_once(run_id) == 0  # claimed and built by worker one
    sessions = one.state.cc.session_factory
    pid = first_patient(web_env)
    with sessions() as s:
        set_patient_choice(s, pid, "ndop", True, "test")
    try:
        warmer = Warmer(one.state.cc)
        deadline = time.monotonic() + 120
        again = 0
        while again == 0 and time.monotonic() < deadline:
            for requester in planning_requesters(sessions):  # requests: the stale cohort refreshes in the background
                try:
                    one.state.cc.aggregates.get(requester, sessions)
                except CarecommonsError:
                    continue
            again = warmer.warm_once(run_id, count=False)  # what each poll does: only cohorts already held
            time.sleep(0.5)
        assert again > 0
    finally:
        with sessions() as s:
            set_patient_choice(s, pid, "ndop", False, "test")
