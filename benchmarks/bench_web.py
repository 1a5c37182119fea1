"""Page render times of the web app over a large store (target: under 300 ms per page at 1 M patients).

Builds (or reuses) a store, seeds governance users and agreements, then times requests through the ASGI
app in-process (routing, session, governance checks, audit write, disclosure control, charts, templates).
Dashboards are timed twice: the first view of each organisation (builds the view and renders its charts)
and repeat views (cached view). The one-off aggregate pass over the store is timed separately.

    .venv/bin/python benchmarks/bench_web.py --patients 1000000
    .venv/bin/python benchmarks/bench_web.py --store var/store.duckdb     # a store from synth + ingest
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from carecommons.governance.seed import DEMO_PASSWORD, seed_demo
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.app import create_app
from carecommons.web.demo import build_demo_store
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
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--practices", type=int, default=1192, help="all London practices by default")
    ap.add_argument("--boroughs", type=int, default=33)
    ap.add_argument("--store", type=Path, help="use this store instead of building one")
    ap.add_argument("--repeat", type=int, default=5, help="repeat views per page")
    ap.add_argument("--orgs", type=int, default=3, help="organisations per level timed on first view")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_web_"))
    t = time.perf_counter()
    store = args.store or build_demo_store(work / "store.duckdb", args.patients, args.practices, args.boroughs)
    print(f"store: {store} ({'given' if args.store else f'built in {time.perf_counter() - t:.1f} s'})")
    url = f"sqlite:///{work / 'operational.sqlite'}"
    upgrade(url)
    con = duckdb.connect(str(store), read_only=True)
    with make_sessionmaker(make_engine(url))() as session:
        seed_demo(session, con)
    con.close()

    app = create_app(Settings(store_path=store, operational_url=url, secret_key="bench-" + "x" * 26))
    with TestClient(app) as client:
        login(client, "analyst.london", DEMO_PASSWORD, "planning")
        t = time.perf_counter()
        client.get("/api/v1/dashboards/london/LONDON")
        print(f"aggregate pass over the store + first London view: {time.perf_counter() - t:.2f} s")
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
                first.append(_timed(client, page + "?register=dm"))  # a register not yet viewed
                repeat += [_timed(client, page + "?register=dm") for _ in range(args.repeat)]
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
