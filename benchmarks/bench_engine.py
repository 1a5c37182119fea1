"""Benchmark: the whole London library over a SQL-generated store, against one plain scan of the events table.

    .venv/bin/python benchmarks/bench_engine.py --patients 1000000 --months 1
    .venv/bin/python benchmarks/bench_engine.py --patients 100000 --months 24

Each measured step runs in its own child process so its peak memory (max RSS from wait4) and its CPU seconds
(user + system, all threads, from wait4) are its own:
``scan`` (one plain DuckDB scan of the four events columns the engine reads), ``evaluate`` (the compiled
library at 1 index date, or at N monthly index dates, into a temp table, over --chunks patient ranges, by
default as many as engine.partition.choose_chunks picks) and ``run`` (engine.run: evaluate
plus writing results_population / results_patient / results_aggregate). The store is generated once with
carecommons.engine.synthetic (deterministic hashes; not carecommons.synth; rows ordered by patient_id like a
store clustered at ingest) and reused if present.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

INDEX = dt.date(2025, 3, 31)


def _child(args: argparse.Namespace) -> None:
    import duckdb

    from carecommons.core.dates import month_ends
    from carecommons.definitions.library import load_library
    from carecommons.engine import run
    from carecommons.engine.compiler import compile_plan
    from carecommons.engine.partition import choose_chunks
    from carecommons.engine.runner import duckdb_evaluate, practice_chains
    from carecommons.store.analytics import limit_memory

    con = duckdb.connect(args.store)
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    # As the platform opens its store (half the machine unless CARECOMMONS_DUCKDB_MEMORY says otherwise), not at
    # DuckDB's own 80%: a 24-date run at 1 M reached 17.5 GiB with the default while other work held the rest.
    limit_memory(con, args.memory_limit or None)
    dates = month_ends(INDEX, args.months)
    chunks = args.chunks or None  # 0: chosen from the store size and memory limit
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    extra: dict[str, object] = {}
    if args.step == "generate":
        from carecommons.engine import synthetic
        from carecommons.store.analytics import create_tables

        create_tables(con)
        synthetic.generate(con, load_library(), args.patients, events_per_patient=args.events_per_patient)
        extra["events"] = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    elif args.step == "scan":
        con.execute("SELECT SUM(patient_id), COUNT(code), MIN(date), SUM(value) FROM events").fetchall()
    elif args.step == "evaluate":
        lib = load_library()
        plan = lib.plan(practice_chains(con))
        compiled = compile_plan(plan, lib.codes(), dates, "duckdb")
        extra["chunks"] = choose_chunks(con, len(dates), chunks)
        extra["rows"] = duckdb_evaluate(con, lib.codes(), plan, dates, "bench_wide", chunks)
        extra["frame_aggregations"] = compiled.n_frame_aggs
        extra["buckets"] = compiled.n_buckets
    elif args.step == "run":
        extra["chunks"] = choose_chunks(con, len(dates), chunks)
        summary = run(con, load_library(), dates, progress=False, chunks=chunks)
        extra = {"timings": summary.timings, "patient_rows": summary.patient_rows}
    extra["seconds"] = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    # CPU of the step alone (all threads), without the child's start-up and imports
    extra["step_cpu_seconds"] = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    print(json.dumps(extra, default=str))


def _measure(args: argparse.Namespace, step: str) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--store", args.store, "--patients", str(args.patients)]
    cmd += ["--months", str(args.months), "--events-per-patient", str(args.events_per_patient)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    cmd += ["--chunks", str(args.chunks)]
    load_before = os.getloadavg()[0]
    wall = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"step {step} failed with status {status}")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - wall
    result["peak_rss_gib"] = usage.ru_maxrss / 1024 / 1024  # ru_maxrss is KiB on Linux
    # CPU seconds of the child (all threads): the figure to compare on a shared machine, where wall time
    # depends on the other workloads; the 1-minute load average before and after says how shared it was.
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=int, default=1_000_000)
    p.add_argument("--events-per-patient", type=int, default=93)  # ~1 billion events at 10.7 M patients
    p.add_argument("--months", type=int, default=1, help="monthly index dates ending 2025-03-31")
    p.add_argument("--store", default=None, help="DuckDB file (default /tmp/bench_engine_<patients>.duckdb)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--memory-limit", default="", help="DuckDB memory limit (default: the store's, half the machine)")
    p.add_argument("--chunks", type=int, default=0, help="patient ranges (0: automatic, 1: one unpartitioned query)")
    p.add_argument("--steps", default="scan,evaluate,run", help="comma-separated: scan, evaluate, run")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.store = args.store or f"/tmp/bench_engine_{args.patients}_{args.events_per_patient}.duckdb"
    if args.child:
        args.step = args.child
        _child(args)
        return
    report: dict[str, object] = {"patients": args.patients, "months": args.months, "date": dt.date.today().isoformat()}
    if not Path(args.store).exists():
        report["generate"] = _measure(args, "generate")
        print("generate", report["generate"], flush=True)
    for step in args.steps.split(","):
        report[step] = _measure(args, step)
        print(step, report[step], flush=True)
    scan = report.get("scan")
    if isinstance(scan, dict):
        for step in ("evaluate", "run"):
            if isinstance(report.get(step), dict):
                report[f"{step}_over_scan"] = report[step]["seconds"] / scan["seconds"]
                report[f"{step}_over_scan_cpu"] = report[step]["step_cpu_seconds"] / scan["step_cpu_seconds"]
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
