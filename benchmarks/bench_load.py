"""Load test: N concurrent signed-in users on a running (or self-started) Carecommons web server.

Each virtual user signs in through the real form as a demo account (GPs, nurse, practice manager, MDT members,
analysts, clinical lead, IG lead, patient, carer, round-robin), then loops for the duration: pick a page from
its role's realistic mix, GET it, record latency and status, think for a random 0..--think seconds. Sign-in is
done before the clock starts (argon2 is deliberately slow; it is not what is measured).

An error is a transport failure, a 5xx, or any status other than the page's expected one (200; a redirect is
followed). Reports p50/p95/p99 latency overall and per page, requests per second and errors.

    CARECOMMONS_HOME=/tmp/cc_rel_load/home \\
    CARECOMMONS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cc_rel_load \\
    .venv/bin/python benchmarks/bench_load.py --serve --users 50 --duration 300

The store and accounts come from `carecommons demo --patients N --no-serve` in that CARECOMMONS_HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx

PASSWORD = "carecommons-demo"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PURPOSE_RE = re.compile(r'name="purpose" type="radio" value="([^"]+)"')


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accounts_and_ids(store: Path, database_url: str) -> tuple[list[tuple[str, str, str | None]], dict]:
    """(username, role, org) of every demo account, and ids the page mix needs (from the operational DB/store)."""
    from sqlalchemy import select

    from carecommons.store.models.governance import User
    from carecommons.store.operational import make_engine, make_sessionmaker

    with make_sessionmaker(make_engine(database_url))() as session:
        users = [(u.user_id, u.role, u.org_id, u.patient_id) for u in session.scalars(select(User)).all()]
    patient_id = next(p for _u, r, _o, p in users if r == "patient")
    con = duckdb.connect(str(store), read_only=True)
    try:
        practice = next(o for _u, r, o, _p in users if r == "gp")
        regs = con.execute(
            "SELECT patient_id FROM registrations WHERE practice_id = ? AND end_date IS NULL ORDER BY patient_id LIMIT 200",
            [practice],
        ).fetchall()
        borough = con.execute("SELECT borough FROM practices WHERE practice_id = ?", [practice]).fetchone()[0]
        names = con.execute(
            "SELECT DISTINCT family_name FROM patients WHERE practice_id = ? AND family_name IS NOT NULL LIMIT 50",
            [practice],
        ).fetchall()
    finally:
        con.close()
    ids = {
        "patient_id": patient_id,
        "practice_patients": [int(r[0]) for r in regs],
        "borough": borough,
        "practice": practice,
        "names": [n[0][:3] for n in names] or ["Smi"],
    }
    return [(u, r, o) for u, r, o, _p in users], ids


def page_mix(role: str, username: str, org: str | None, ids: dict) -> list[tuple[str, str, int]]:
    """(label, path template, weight) per role; {pid} is replaced by a patient the role may see."""
    common = [("health", "/api/v1/health", 1), ("transparency", "/transparency", 1)]
    if role in ("gp", "nurse", "pharmacist"):
        return common + [
            ("record", "/care/patients/{pid}", 6),
            ("search", "/care/patients?q={name}", 3),
            ("tasks", "/care/tasks", 2),
            ("symptoms", "/symptoms?q=chest", 2),
            ("api_symptoms", "/api/v1/symptoms?q=head", 1),
        ]
    if role == "practice_manager":
        return common + [
            ("worklist", "/care/worklist", 2),
            ("tasks", "/care/tasks", 3),
            ("search", "/care/patients?q={name}", 3),
        ]
    if role == "mdt_member":
        return common + [("caseload", "/care/caseload", 3), ("tasks", "/care/tasks", 3)]
    if role in ("analyst", "clinical_lead"):
        return common + [
            ("dash_london", "/dashboards/london", 2),
            ("dash_borough", "/dashboards/borough/{borough}", 3),
            ("api_dash", "/api/v1/dashboards/london/london?definition=DM_REG", 3),
            ("api_measures", "/api/v1/measures", 1),
        ]
    if role == "ig_lead":
        return common + [
            ("governance", "/governance", 2),
            ("optouts", "/api/v1/governance/opt-outs", 2),
            ("agreements", "/api/v1/governance/agreements", 2),
            ("audit", "/governance/audit", 1),
        ]
    if role in ("patient", "carer"):
        return common + [("portal", "/portal/{own}", 4), ("access_log", "/portal/{own}/access-log", 2)]
    return common


async def sign_in(client: httpx.AsyncClient, username: str, gate: asyncio.Semaphore) -> None:
    """The real form, without following the redirect to the (possibly heavy) home page; a few at a time."""
    async with gate:
        for attempt in range(3):
            try:
                page = await client.get("/login")
                token = CSRF_RE.search(page.text).group(1)
                r = await client.post(
                    "/login",
                    data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
                    follow_redirects=False,
                )
                if r.headers.get("location", "").startswith("/purpose"):
                    page = await client.get(r.headers["location"])
                    chosen = PURPOSE_RE.findall(page.text)[0]
                    data = {"purpose": chosen, "next": "/", "csrf_token": CSRF_RE.search(page.text).group(1)}
                    await client.post("/purpose", data=data, follow_redirects=False)
                if (await client.get("/api/v1/me")).status_code == 200:
                    return
            except httpx.HTTPError:
                if attempt == 2:
                    raise
    raise SystemExit(f"sign-in of {username} failed")


async def virtual_user(
    base: str,
    account,
    ids,
    stats: Stats,
    start: asyncio.Event,
    stop_at: list[float],
    think: tuple[float, float],
    seed: int,
    signed: list,
    gate: asyncio.Semaphore,
):
    username, role, org = account
    rng = random.Random(seed)
    mix = page_mix(role, username, org, ids)
    labels = [m for m in mix for _ in range(m[2])]
    own = ids["patient_id"]
    async with httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=30) as client:
        await sign_in(client, username, gate)
        signed.append(username)
        await start.wait()
        while time.perf_counter() < stop_at[0]:
            label, tmpl, _w = rng.choice(labels)
            path = tmpl.format(
                pid=rng.choice(ids["practice_patients"]), name=rng.choice(ids["names"]), borough=ids["borough"], own=own
            )
            t0 = time.perf_counter()
            try:
                r = await client.get(path)
                code = r.status_code
            except httpx.HTTPError:
                code = 0
            elapsed = time.perf_counter() - t0
            stats.latencies[label].append(elapsed)
            stats.statuses[code] += 1
            if code != 200:
                stats.errors[f"{label} {code}"] += 1
            if think[1]:
                await asyncio.sleep(rng.uniform(*think))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


async def main_async(args) -> dict:
    accounts, ids = _accounts_and_ids(Path(args.store), args.database_url)
    accounts = [a for a in accounts if a[1] != "operator"]
    # Clinicians at the busiest practice see its patients; other practices' GPs would get break-glass pages.
    practice = ids["practice"]
    clinical = [a for a in accounts if a[1] in ("gp", "nurse", "pharmacist", "practice_manager") and a[2] == practice]
    others = [a for a in accounts if a[1] not in ("gp", "nurse", "pharmacist", "practice_manager")]
    pool = clinical * 3 + others  # clinicians are most of the users
    chosen = [pool[i % len(pool)] for i in range(args.users)]
    stats = Stats()
    start = asyncio.Event()
    stop_at = [float("inf")]
    signed: list[str] = []
    gate = asyncio.Semaphore(4)
    tasks = [
        asyncio.create_task(
            virtual_user(
                args.base_url, a, ids, stats, start, stop_at, (args.think_min, args.think), args.seed + i, signed, gate
            )
        )
        for i, a in enumerate(chosen)
    ]
    # Wait for every sign-in (they run concurrently), then start the clock.
    while len(signed) < len(tasks):
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()  # a sign-in failed: raise its error
        await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    stop_at[0] = t0 + args.warmup + args.duration
    start.set()
    await asyncio.sleep(args.warmup)
    for v in stats.latencies.values():  # discard warm-up samples
        v.clear()
    stats.errors.clear()
    stats.statuses.clear()
    measured_from = time.perf_counter()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - measured_from
    every = [x for v in stats.latencies.values() for x in v]
    report = {
        "users": args.users,
        "seconds": round(seconds, 1),
        "requests": len(every),
        "rps": round(len(every) / seconds, 1),
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors),
        "p50_ms": round(pct(every, 50) * 1000, 1),
        "p95_ms": round(pct(every, 95) * 1000, 1),
        "p99_ms": round(pct(every, 99) * 1000, 1),
        "pages": {
            k: {"n": len(v), "p50_ms": round(pct(v, 50) * 1000, 1), "p95_ms": round(pct(v, 95) * 1000, 1)}
            for k, v in sorted(stats.latencies.items())
        },
    }
    return report


def _stop_server(server: subprocess.Popen) -> float | None:
    """SIGINT, then the server's CPU seconds (its own and its reaped workers', from wait4): the machine is
    shared, so wall-clock latency alone says little. None if it had to be killed."""
    server.send_signal(signal.SIGINT)
    deadline = time.time() + 30
    while time.time() < deadline:
        pid, _status, usage = os.wait4(server.pid, os.WNOHANG)
        if pid:
            server.returncode = 0
            return round(usage.ru_utime + usage.ru_stime, 1)
        time.sleep(0.2)
    server.kill()
    server.wait()
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    home = Path(os.environ.get("CARECOMMONS_HOME", "var"))
    ap.add_argument("--base-url", default=None, help="a running server; default: start one (--serve)")
    ap.add_argument("--serve", action="store_true", help="start `carecommons serve` on a free port for the run")
    ap.add_argument("--store", default=str(home / "store.duckdb"))
    ap.add_argument(
        "--database-url", default=os.environ.get("CARECOMMONS_DATABASE_URL", f"sqlite:///{home / 'operational.sqlite'}")
    )
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--duration", type=float, default=300.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds of load before measuring")
    ap.add_argument("--think", type=float, default=1.0, help="max think time between a user's requests (s)")
    ap.add_argument(
        "--think-min",
        type=float,
        default=0.0,
        help="min think time (s); think time is uniform in [--think-min, --think]. 0-1 s (the default) is a stress "
        "test; people reading a page pause longer, e.g. --think-min 2 --think 8",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=0, help="uvicorn workers for --serve (0 = one per core)")
    ap.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after the server answers before signing in (lets the background warm-up of the "
        "planning dashboards finish; report the figure with and without it)",
    )
    ap.add_argument("--json", default=None, help="also write the report here")
    ap.add_argument("--server-log", default="bench-load-server.log", help="where the started server's output goes")
    args = ap.parse_args()
    if not 0 <= args.think_min <= args.think:
        ap.error(
            f"--think-min {args.think_min} must be between 0 and --think ({args.think}); lower it or raise --think"
        )
    server = None
    if args.serve or not args.base_url:
        port = _free_port()
        env = {**os.environ, "CARECOMMONS_SECRET_KEY": "bench-load-" + "s" * 24}
        cmd = [
            str(Path(sys.executable).with_name("carecommons")),
            "serve",
            "--port",
            str(port),
            "--store",
            args.store,
            "--database-url",
            args.database_url,
            "--workers",
            str(args.workers),
        ]
        # The server's output goes to a file: a pipe nobody reads fills up and stalls the server.
        log = open(args.server_log, "wb")  # noqa: SIM115 - open for the server's life
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        args.base_url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(args.base_url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            server.kill()
            raise SystemExit("server did not start: " + Path(args.server_log).read_text()[-2000:])
        if args.settle:
            time.sleep(args.settle)
    load_before = os.getloadavg()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    report: dict = {}
    try:
        report = asyncio.run(main_async(args))
    finally:
        if server is not None:
            report["server_cpu_s"] = _stop_server(server)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    report["client_cpu_s"] = round(
        self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime, 1
    )
    report["loadavg_before"] = [round(x, 2) for x in load_before]
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report["workers"] = args.workers or os.cpu_count()
    report["think_s"] = args.think
    report["think_min_s"] = args.think_min
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
