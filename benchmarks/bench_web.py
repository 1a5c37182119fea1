"""Page render times of the web app over a real demo store (target: under 300 ms per page at 1 M patients).

Builds the store with the platform's own pipeline, `carecommons demo --patients N --no-serve` (synth, ingest,
linkage, the engine over 24 month ends, seeded accounts) into a CARECOMMONS_HOME, or reuses one given with
--home. Then times requests through the ASGI app in-process (routing, session, governance checks, audit
write, disclosure control, charts, templates). The one-off count of the engine's results for the analyst's
cohort (first request) is timed separately; dashboards are timed on the first view of each organisation and
definition (builds the view and renders its charts) and on repeat views (cached view).

    .venv/bin/python benchmarks/bench_web.py --patients 100000
    .venv/bin/python benchmarks/bench_web.py --home /tmp/bwh100k       # reuse a demo home
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from carecommons.governance.seed import DEMO_PASSWORD
from carecommons.web.app import create_app
from carecommons.web.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.web.conftest import login  # noqa: E402  (the same sign-in helper the tests use)


def _timed(client: TestClient, path: str) -> float:
    t = time.perf_counter()
    r = client.get(path)
    elapsed = time.perf_counter() - t
    if r.status_code != 200:
        raise SystemExit(f"{path} gave {r.status_code}: {r.text[:300]}")
    return elapsed * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--home", type=Path, help="reuse this CARECOMMONS_HOME (a finished `carecommons demo`)")
    ap.add_argument("--repeat", type=int, default=5, help="repeat views per page")
    ap.add_argument("--orgs", type=int, default=3, help="organisations per level timed on first view")
    args = ap.parse_args()

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
    store, url = home / "store.duckdb", f"sqlite:///{home / 'operational.sqlite'}"
    print(f"store: {store}")

    app = create_app(Settings(store_path=store, operational_url=url, secret_key="bench-" + "x" * 26))
    with TestClient(app) as client:
        login(client, "analyst.london", DEMO_PASSWORD, "planning")
        t = time.perf_counter()
        client.get("/api/v1/dashboards/london/LONDON")
        print(f"cohort count of the engine's results + first London view: {time.perf_counter() - t:.2f} s")
        levels = {"london": ["LONDON"]}
        path = "/api/v1/dashboards/london/LONDON"
        for level in ("ics", "borough", "pcn", "practice"):
            children = client.get(path).json()["data"]["children"]
            levels[level] = [c["id"] for c in children[: args.orgs]]
            path = f"/api/v1/dashboards/{level}/{levels[level][0]}"
        rows = []
        for level, ids in levels.items():
            first, repeat = [], []
            for org in ids:
                page = "/dashboards/london" if level == "london" else f"/dashboards/{level}/{org}"
                first.append(_timed(client, page + "?definition=DM020"))  # a definition not yet viewed
                repeat += [_timed(client, page + "?definition=DM020") for _ in range(args.repeat)]
            rows.append((f"dashboard {level}", max(first), statistics.median(repeat), max(repeat)))
        sym = [_timed(client, "/symptoms?q=pain") for _ in range(args.repeat)]
        rows.append(("symptom search (q=pain)", sym[0], statistics.median(sym), max(sym)))
        pub = [_timed(client, "/transparency") for _ in range(args.repeat)]
        rows.append(("transparency (public)", pub[0], statistics.median(pub), max(pub)))
    with TestClient(app) as ig:
        login(ig, "ig.lead", DEMO_PASSWORD)
        for path in ("/governance/agreements", "/governance/audit", "/governance/opt-outs"):
            times = [_timed(ig, path) for _ in range(args.repeat)]
            rows.append((path, times[0], statistics.median(times), max(times)))

    print(f"\n{'page':34} {'first/cold ms':>14} {'median ms':>10} {'max ms':>8}")
    for name, first, med, worst in rows:
        print(f"{name:34} {first:14.0f} {med:10.0f} {worst:8.0f}")


if __name__ == "__main__":
    main()
