"""Throughput and peak memory of `carecommons synth` (issue 2 target: 1M patients, ~100M events, < 2 min, < 4 GiB).

Usage: .venv/bin/python benchmarks/bench_synth.py --patients 1000000 --format csv [--out DIR] [--keep]

Peak memory is reported per process (ru_maxrss of this process and of the largest worker); the run's total peak is
at most parent + workers x largest worker, which is printed as the bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from carecommons.synth import generate


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--format", default="csv", choices=("csv", "fhir", "mixed"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the output")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_synth_"))
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    t0, c0 = time.perf_counter(), os.times()
    summary = generate(
        out, args.patients, seed=args.seed, format=args.format, extract_date=dt.date(2026, 11, 1),
        progress=True, workers=args.workers,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    c1 = os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user)
    cpu += c1.children_system - c0.children_system
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    workers = args.workers or (2 if args.patients >= 50_000 else 1)
    size = _dir_bytes(out)
    rows = summary.events_total
    print(f"patients {summary.patients:,} in {summary.practices} practices, format {args.format}")
    print(f"rows: {summary.rows}")
    print(f"clinical rows (events+medications+vaccinations+encounters): {rows:,}")
    print(f"social care {summary.social_care_records:,}, hospital discharges {summary.hospital_discharges:,}")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, {rows / wall / 1e6:.2f} M rows/s, {size / wall / 1e6:.0f} MB/s")
    print(f"output {size / 1e9:.2f} GB")
    print(f"peak RSS parent {parent:.2f} GiB, largest worker {child:.2f} GiB, bound {parent + workers * child:.2f} GiB")
    print(f"load average at end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
