"""A planning cohort's count of the engine's results: direct vs everyone's counts less the left-out patients.

Opens a `carecommons demo` store READ ONLY, gets a planning account's allowed patients from governance (as
the web app does), and times `web.aggregates.compute` per path in CPU s (process time; the machine is
shared, so wall time is inflated by others' work), with the load average beside each figure. Checks that
both paths give identical frames and fingerprint.

    .venv/bin/python benchmarks/bench_cohort_count.py --home /tmp/hc20k
    CARECOMMONS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cc1m \\
        .venv/bin/python benchmarks/bench_cohort_count.py --home /tmp/cc1m --paths everyone,subtract,direct

--paths runs, in order: `direct` (compute(..., method="direct")), `everyone` (the once-per-run count of
everyone, peak RSS reported), `subtract` (the cohort by subtraction; counts everyone first if not done) and
`auto` (what the web app does). Run the paths in separate processes to compare peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from carecommons.governance.cohort import allowed_patients
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.aggregates import EveryoneCache, PracticeAggregates, RunInfo, _definitions, compute, latest_run
from carecommons.web.warm import planning_requesters


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _same(a: PracticeAggregates, b: PracticeAggregates) -> None:
    for name in ("practices", "population", "counts", "strata"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    assert (a.cohort, a.index_dates, a.definitions) == (b.cohort, b.index_dates, b.definitions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a finished `carecommons demo` CARECOMMONS_HOME")
    ap.add_argument("--database-url", default=None, help="operational DB (default: the env, else SQLite in --home)")
    ap.add_argument("--user", default="analyst.london", help="planning account whose cohort is counted")
    ap.add_argument("--paths", default="direct,everyone,subtract,subtract", help="comma-separated, run in order")
    args = ap.parse_args()
    url = (
        args.database_url
        or os.environ.get("CARECOMMONS_DATABASE_URL")
        or f"sqlite:///{args.home / 'operational.sqlite'}"
    )
    sessions = make_sessionmaker(make_engine(url))
    con = duckdb.connect(str(args.home / "store.duckdb"), read_only=True)
    requester = next((r for r in planning_requesters(sessions) if r.user_id == args.user), None)
    if requester is None:
        sys.exit(f"no active planning account {args.user!r}")
    with sessions() as session:
        table = allowed_patients(con, requester, session)
    (allowed,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    (patients,) = con.execute("SELECT count(*) FROM patients").fetchone()
    print(f"{args.user}: {allowed:,} allowed of {patients:,} patients; peak RSS before {_rss_mib():.0f} MiB")
    everyone = EveryoneCache()
    results: dict[str, PracticeAggregates] = {}
    for path in args.paths.split(","):
        load = _load()
        t, c = time.perf_counter(), time.process_time()
        if path == "everyone":
            run_id, snap, dates, versions, kinds = latest_run(con)
            got = everyone.get(con, RunInfo(run_id, snap, dates, _definitions(versions, kinds)))
            held = sum(int(f.memory_usage(deep=True).sum()) for f in got.frames.values()) + got.patients.nbytes
            extra = f"; {got.patients.size:,} patients, frames held {held / 2**20:.0f} MiB"
        else:
            results[path] = compute(con, table, method=path, everyone=everyone)  # a repeated path: the last one
            extra = f"; everyone counted {everyone.counted}x, cohorts subtracted {everyone.subtracted}"
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(
            f"{path:9s} {cpu:6.2f} CPU s {wall:6.2f} s wall  load {load} -> {_load()}  "
            f"peak RSS {_rss_mib():.0f} MiB{extra}"
        )
    if len(results) > 1:
        first, *rest = results.values()
        for other in rest:
            _same(first, other)
        print(f"identical frames and fingerprint across {', '.join(results)}")


if __name__ == "__main__":
    main()
