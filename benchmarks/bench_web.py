"""Page render times of the web app over a real demo store (target: under 300 ms per page at 1 M patients).

Builds the store with the platform's own pipeline, `carecommons demo --patients N --no-serve` (synth, ingest,
linkage, the engine over 24 month ends, seeded accounts) into a CARECOMMONS_HOME, or reuses one given with
--home. Then times requests through the ASGI app in-process (routing, session, governance checks, audit
write, disclosure control, charts, templates). The one-off count of the engine's results for the analyst's
cohort (first request) is timed separately; dashboards are timed on the first view of each organisation and
definition (builds the view and renders its charts) and on repeat views (cached view).

    .venv/bin/python benchmarks/bench_web.py --patients 100000
    .venv/bin/python benchmarks/bench_web.py --home /tmp/bwh100k       # reuse a demo home
    .venv/bin/python benchmarks/bench_web.py --home /tmp/cc1m --pages care   # patient-level pages only

The app holds the store open as `carecommons serve` does (keep_store_open), so a request's connection costs
what it costs in production.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from carecommons.governance.seed import DEMO_PASSWORD
from carecommons.web.app import create_app
from carecommons.web.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.web.conftest import login  # noqa: E402  (the same sign-in helper the tests use)

CPU: list[float] = []  # CPU ms of each timed request, in order (the machine is shared: wall time is inflated)


def _timed(client: TestClient, path: str) -> float:
    """Wall ms of one GET through the app; its process CPU ms is appended to CPU (the app runs in this
    process, so process time covers it; background refresh threads can add a little)."""
    c = time.process_time()
    t = time.perf_counter()
    r = client.get(path)
    elapsed = time.perf_counter() - t
    CPU.append((time.process_time() - c) * 1000)
    if r.status_code != 200:
        raise SystemExit(f"{path} gave {r.status_code}: {r.text[:300]}")
    LAST_CHARTS[:] = [html.unescape(src) for src in re.findall(r'<img class="cc-chart" src="([^"]+)"', r.text)]
    return elapsed * 1000


LAST_CHARTS: list[str] = []  # chart images (their own SVG resources) of the last page timed


def _charts(client: TestClient, rows: list[tuple], label: str) -> None:
    """Time each chart image of the page just timed, as a browser would fetch it (one by one here; a browser
    fetches them in parallel after the page): one row with the worst chart and the page's total."""
    srcs = list(LAST_CHARTS)
    if not srcs:
        return
    times = [_timed(client, src) for src in srcs]
    cpu = CPU[-len(srcs) :]
    worst = times.index(max(times))
    rows.append((f"  its {len(srcs)} chart images: worst / median / total ms; worst, median CPU", times[worst],
                 statistics.median(times), sum(times), cpu[worst], statistics.median(cpu)))  # fmt: skip
    CHART_TOTALS.append((label, sum(times), sum(cpu)))


CHART_TOTALS: list[tuple[str, float, float]] = []


def _row(name: str, times: list[float], cpu: list[float]) -> tuple:
    return (name, times[0], statistics.median(times), max(times), cpu[0], statistics.median(cpu))


def _series(client: TestClient, path: str, n: int) -> tuple[list[float], list[float]]:
    start = len(CPU)
    times = [_timed(client, path) for _ in range(n)]
    return times, CPU[start:]


def _patient_pages(app, store: Path, repeat: int) -> list[tuple]:
    """Record, search, tasks (GP of the busiest practice) and worklist (its practice manager)."""
    from sqlalchemy import select

    from carecommons.store.models.governance import User

    with app.state.cc.session_factory() as session:
        users = session.scalars(select(User).where(User.active.is_(True))).all()
        gps = [(u.user_id, u.org_id) for u in users if u.role == "gp"]
        managers = {u.org_id: u.user_id for u in users if u.role == "practice_manager"}
        patient = next(((u.user_id, u.patient_id) for u in users if u.role == "patient" and u.patient_id), None)
    con = duckdb.connect(str(store), read_only=True)
    try:
        gp, practice = next((g, o) for g, o in gps if o in managers)
        pids = [r[0] for r in con.execute(
            "SELECT patient_id FROM registrations WHERE practice_id = ? AND end_date IS NULL ORDER BY patient_id "
            "LIMIT 50", [practice]).fetchall()]  # fmt: skip
        name = con.execute(
            "SELECT family_name FROM patients WHERE practice_id = ? AND family_name IS NOT NULL LIMIT 1", [practice]
        ).fetchone()[0][:3]
        # How much of the store one record view reads: row groups the patient_id filter leaves to scan (all of
        # them unless the store is clustered by patient, see store.clustering).
        plan = con.execute(
            "EXPLAIN ANALYZE SELECT code, date, value, unit FROM events WHERE patient_id = $pid", {"pid": pids[0]}
        ).fetchall()[0][1]
        scanned = [line.strip("│ ").strip() for line in plan.splitlines() if "Row Groups Scanned" in line]
        print(f"one patient's events read: {', '.join(scanned) or 'row groups not reported'}")
    finally:
        con.close()
    rows = []
    with TestClient(app) as c:
        login(c, gp, DEMO_PASSWORD)
        start = len(CPU)
        times = [_timed(c, f"/care/patients/{pids[i % len(pids)]}") for i in range(repeat)]  # a different patient each
        rows.append(_row("record (a different patient each view)", times, CPU[start:]))
        rows.append(_row(f"patient search (q={name})", *_series(c, f"/care/patients?q={name}", repeat)))
        rows.append(_row("tasks", *_series(c, "/care/tasks", repeat)))
    rows += _worklists(app, store, [managers[practice], *(m for o, m in sorted(managers.items()) if o != practice)],
                       repeat)  # fmt: skip
    if patient is not None:
        with TestClient(app) as c:
            login(c, patient[0], DEMO_PASSWORD)
            for name, path in (("summary", ""), ("choices", "/choices"), ("access log", "/access-log")):
                page = f"/portal/{patient[1]}{path}"
                rows.append(_row(f"portal {name} (patient)", *_series(c, page, repeat)))
    return rows


def _worklists(app, store: Path, managers: list[str], repeat: int) -> list[tuple]:
    """Each practice manager's worklist: first views scanning the store's events (no summary, rule results not
    cached), then the store summary `carecommons serve` makes after start-up (timed), then first views again
    (rule results not cached) and repeat views of the first practice."""
    from carecommons.care import rule_inputs, worklists
    from carecommons.web.app import warm_worklists_in_background

    def first_views(label: str) -> list[tuple]:
        worklists.clear_items_cache()
        times, cpu = [], []
        for manager in managers:
            with TestClient(app) as c:
                login(c, manager, DEMO_PASSWORD)
                times.append(_timed(c, "/care/worklist"))
                cpu.append(CPU[-1])
        return [(f"worklist first view, {label} ({len(managers)} practices: worst, median, max)", max(times),
                 statistics.median(times), max(times), cpu[times.index(max(times))], statistics.median(cpu))]  # fmt: skip

    rule_inputs.forget()
    rows = first_views("scanning the store")
    t, c = time.perf_counter(), time.process_time()
    warm_worklists_in_background(app.state.settings).join()
    con = duckdb.connect(str(store), read_only=True)
    try:
        summary = rule_inputs.current(con)
    finally:
        con.close()
    size = f"{len(summary.patient_id):,} entries, {summary.nbytes / 2**20:.0f} MiB" if summary else "NOT MADE"
    print(f"worklist rule inputs summary (serve's start-up warm-up): {time.perf_counter() - t:.1f} s "
          f"({time.process_time() - c:.1f} CPU s), {size}; load {os.getloadavg()}")  # fmt: skip
    rows += first_views("from the summary")
    with TestClient(app) as c:
        login(c, managers[0], DEMO_PASSWORD)
        rows.append(_row("worklist (practice manager, repeat views)", *_series(c, "/care/worklist", repeat)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--home", type=Path, help="reuse this CARECOMMONS_HOME (a finished `carecommons demo`)")
    ap.add_argument("--repeat", type=int, default=5, help="repeat views per page")
    ap.add_argument("--orgs", type=int, default=3, help="organisations per level timed on first view")
    ap.add_argument("--database-url", default=None, help="operational DB (default: the env, else SQLite in --home)")
    ap.add_argument(
        "--pages",
        choices=("all", "care", "dashboards"),
        default="all",
        help="care: patient-level pages (record, search, tasks, worklist, portal) only; dashboards: the rest",
    )
    ap.add_argument(
        "--warm",
        choices=("all", "timed"),
        default="all",
        help="all: the background warm-up of every cohort's default pages (minutes to an hour at 1 M); timed: only "
        "the default pages of the organisations timed, for the London analyst's cohort",
    )
    args = ap.parse_args()
    load_before = os.getloadavg()
    usage_before = resource.getrusage(resource.RUSAGE_SELF)

    home = args.home or Path(tempfile.mkdtemp(prefix="bench_web_"))
    if args.home is None:
        t = time.perf_counter()
        cmd = [sys.executable, "-c", "from carecommons.cli.main import app; app()", "demo"]
        subprocess.run(
            [*cmd, "--patients", str(args.patients), "--no-serve"],
            env={**os.environ, "CARECOMMONS_HOME": str(home)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"carecommons demo --patients {args.patients}: {time.perf_counter() - t:.0f} s")
    store = home / "store.duckdb"
    url = args.database_url or os.environ.get("CARECOMMONS_DATABASE_URL") or f"sqlite:///{home / 'operational.sqlite'}"
    print(f"store: {store}")
    shared_dir = Path(tempfile.mkdtemp(prefix="bench_web_shared_"))  # never beside a store shared with others
    settings = Settings(
        store_path=store,
        operational_url=url,
        secret_key="bench-" + "x" * 26,
        shared_state_path=shared_dir / "shared.sqlite",
        keep_store_open=True,
    )
    app = create_app(settings)
    rows = []
    if args.pages != "care":
        rows += _planning_pages(app, settings, store, args)
    if args.pages != "dashboards":
        rows += _patient_pages(app, store, args.repeat)
    _report(rows, usage_before, load_before)


def _planning_pages(app, settings: Settings, store: Path, args: argparse.Namespace) -> list[tuple]:
    """Dashboards (built on view, then after the background warm-up in another app), symptoms, transparency
    and the governance pages."""
    with TestClient(app) as client:
        login(client, "analyst.london", DEMO_PASSWORD, "planning")
        t, c = time.perf_counter(), time.process_time()
        client.get("/api/v1/dashboards/london/LONDON")
        print(
            f"cohort count of the engine's results + first London view: {time.perf_counter() - t:.2f} s "
            f"({time.process_time() - c:.2f} CPU s)"
        )
        levels = {"london": ["LONDON"]}
        path = "/api/v1/dashboards/london/LONDON"
        for level in ("ics", "borough", "pcn", "practice"):
            children = client.get(path).json()["data"]["children"]
            levels[level] = [c["id"] for c in children[: args.orgs]]
            path = f"/api/v1/dashboards/{level}/{levels[level][0]}"
        rows = []
        for level, ids in levels.items():
            first, repeat, first_cpu, repeat_cpu = [], [], [], []
            chart_rows: list[tuple] = []
            for org in ids:
                page = "/dashboards/london" if level == "london" else f"/dashboards/{level}/{org}"
                first.append(_timed(client, page + "?definition=DM020"))  # a definition not yet viewed
                first_cpu.append(CPU[-1])
                _charts(client, chart_rows, f"{level} {org}")
                times, cpu = _series(client, page + "?definition=DM020", args.repeat)
                repeat += times
                repeat_cpu += cpu
            worst = first.index(max(first))
            rows.append((f"dashboard {level} (DM020, built on view; page HTML)", first[worst],
                         statistics.median(repeat), max(repeat), first_cpu[worst], statistics.median(repeat_cpu)))  # fmt: skip
            if chart_rows:
                rows.append(max(chart_rows, key=lambda r: r[1]))  # the org whose slowest chart was slowest
        rows.append(_row("symptom search (q=pain)", *_series(client, "/symptoms?q=pain", args.repeat)))
        rows.append(_row("transparency (public)", *_series(client, "/transparency", args.repeat)))
    # Background warm-up (what `carecommons serve` runs after start-up), then a second app stands for another
    # worker: its first view of each organisation's default dashboard is a read of the shared file.
    from carecommons.web.aggregates import latest_run
    from carecommons.web.warm import Warmer, planning_requesters

    con = duckdb.connect(str(store), read_only=True)
    try:
        run_id = latest_run(con)[0]
    finally:
        con.close()
    london = next(r for r in planning_requesters(app.state.cc.session_factory) if r.user_id == "analyst.london")
    t, c = time.perf_counter(), time.process_time()
    if args.warm == "all":
        built = Warmer(app.state.cc).warm_once(run_id)
    else:  # only the timed organisations' default pages of the London analyst's cohort, as the warm-up makes them
        from carecommons.core.orgs import OrgLevel
        from carecommons.web.dashboards import DEFAULT_DEFINITION, LEVEL_SLUGS
        from carecommons.web.routes.dashboards import cached_dashboard

        st = app.state.cc
        aggs = st.aggregates.get(london, st.session_factory)
        for level, ids in levels.items():
            for org in ids:
                lvl = LEVEL_SLUGS[level] if level != "london" else OrgLevel.LONDON
                cached_dashboard(st, aggs, lvl, org, DEFAULT_DEFINITION, draw=True)
        built = sum(len(ids) for ids in levels.values())
    print(f"warm-up ({args.warm}): {built} dashboards built in {time.perf_counter() - t:.1f} s "
          f"({time.process_time() - c:.1f} CPU s)")  # fmt: skip
    other = create_app(settings)
    with TestClient(other) as client:
        login(client, "analyst.london", DEMO_PASSWORD, "planning")
        t, c = time.perf_counter(), time.process_time()
        if args.warm == "all":
            Warmer(other.state.cc).warm_once(run_id)  # counts its cohorts; the pages were claimed and built already
        else:  # counts the London analyst's cohort, then derives its frames, as the warm-up does in every worker
            from carecommons.web.dashboards import prime

            client.get("/api/v1/dashboards/london/LONDON")
            prime(other.state.cc.aggregates.get(london, other.state.cc.session_factory))
        print(f"other worker's warm-up (cohort count, prime): {time.perf_counter() - t:.1f} s "
              f"({time.process_time() - c:.1f} CPU s)")  # fmt: skip
        for level, ids in levels.items():
            first, first_cpu = [], []
            for org in ids:
                page = "/dashboards/london" if level == "london" else f"/dashboards/{level}/{org}"
                first.append(_timed(client, page))
                first_cpu.append(CPU[-1])
            worst = first.index(max(first))
            rows.append((f"dashboard {level} (HYP_REG, first view after warm-up, other worker)", first[worst],
                         statistics.median(first), max(first), first_cpu[worst], statistics.median(first_cpu)))  # fmt: skip
        # What an analyst meets in production: the warm-up has run, and they pick a definition nobody has viewed.
        for level, ids in levels.items():
            first, first_cpu, chart_rows = [], [], []
            for org in ids:
                page = "/dashboards/london" if level == "london" else f"/dashboards/{level}/{org}"
                first.append(_timed(client, page + "?definition=AF_REG"))
                first_cpu.append(CPU[-1])
                _charts(client, chart_rows, f"{level} {org} AF_REG")
            worst = first.index(max(first))
            rows.append((f"dashboard {level} (AF_REG, not viewed before, after warm-up, other worker; HTML)",
                         first[worst], statistics.median(first), max(first), first_cpu[worst],
                         statistics.median(first_cpu)))  # fmt: skip
            if chart_rows:
                rows.append(max(chart_rows, key=lambda r: r[1]))
    with TestClient(app) as ig:
        login(ig, "ig.lead", DEMO_PASSWORD)
        for path in ("/governance/agreements", "/governance/audit", "/governance/opt-outs"):
            rows.append(_row(path, *_series(ig, path, args.repeat)))
    return rows


def _report(rows: list[tuple], usage_before, load_before: tuple[float, float, float]) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n{'page':70} {'first ms':>9} {'median ms':>10} {'max ms':>8} {'first CPU ms':>13} {'median CPU ms':>14}")
    for name, first, med, worst, fcpu, mcpu in rows:
        print(f"{name:70} {first:9.0f} {med:10.0f} {worst:8.0f} {fcpu:13.0f} {mcpu:14.0f}")
    cpu_s = usage.ru_utime + usage.ru_stime - usage_before.ru_utime - usage_before.ru_stime
    print(f"\nprocess CPU {cpu_s:.0f} s; load average before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
