"""Linkage benchmark: quality (precision, recall, F1 against ground truth) and time, at any scale.

Two data sources:
  --source noise  identity columns only, from carecommons.identity.noise (vectorised; reaches 10.7 M GP
                  patients in about a minute); noise rates are NoiseRates defaults (35% NHS numbers missing,
                  5% wrong, 8% name typos, 10% moved house, 3% not GP-registered ...)
  --source synth  full synthetic London from carecommons.synth, loaded by carecommons.ingest (slow to build;
                  use for end-to-end quality at up to ~100 k patients)

Examples:
  .venv/bin/python benchmarks/bench_linkage.py --source noise --gp 1000000 --feed 100000
  .venv/bin/python benchmarks/bench_linkage.py --source noise --gp 10700000 --feed 1000000 --em-max-pairs 2e6
  .venv/bin/python benchmarks/bench_linkage.py --source synth --gp 20000
  .venv/bin/python benchmarks/bench_linkage.py --pseudonyms 10000000   (keyed pseudonyms of a DuckDB column)
Prints one JSON line of figures; the store and work files go to a temporary directory (or --work).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def build_noise(store: Path, n_gp: int, n_feed: int, seed: int, reuse: bool = False) -> pa.Table:
    """Simulate and load; with `reuse` and an existing store only the (seeded, identical) truth is rebuilt."""
    from carecommons.identity.noise import gp_population, load_into_store, noisy_feed
    from carecommons.store.analytics import connect

    gp = gp_population(n_gp, seed)
    sc, t_sc = noisy_feed(gp, n_feed, "social_care", seed + 1)
    if reuse and store.exists():
        return t_sc
    con = connect(store)
    load_into_store(con, gp, sc, None)
    con.close()
    return t_sc


def build_synth(work: Path, store: Path, n_gp: int, seed: int) -> Path:
    from carecommons.ingest.run import ingest
    from carecommons.synth.generate import generate

    out = work / "sources"
    generate(out, n_gp, seed=seed, progress=False)
    ingest(store, [out], progress=False)
    return out / "truth" / "identity.csv"


def bench_pseudonyms(n: int) -> dict:
    """Seconds to pseudonymise an n-row NHS-number column in DuckDB (the planning-view path)."""
    import duckdb

    from carecommons.identity.keys import create_key
    from carecommons.identity.pseudonym import pseudonymise_table

    with tempfile.TemporaryDirectory() as tmp:
        kdir = Path(tmp) / "keys"
        create_key("planning", kdir)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE TABLE t AS SELECT CAST(4000000000 + range * 7919 AS VARCHAR) AS nhs FROM range({n})")
        t0 = time.perf_counter()
        rel = pseudonymise_table(con, "t", ["nhs"], "planning", kdir)
        distinct = rel.aggregate("count(DISTINCT nhs)").fetchall()[0][0]
        seconds = time.perf_counter() - t0
    return {
        "date": time.strftime("%Y-%m-%d"),
        "pseudonyms": n,
        "distinct": distinct,
        "seconds": round(seconds, 1),
        "rows_per_second": round(n / seconds),
        "peak_rss_gib": round(_peak_rss_gib(), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=("noise", "synth"), default="noise")
    ap.add_argument("--gp", type=int, default=100_000, help="GP patients")
    ap.add_argument("--feed", type=int, default=10_000, help="social-care records (noise source only)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--backend", choices=("duckdb", "spark"), default="duckdb")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--em-max-pairs", type=float, default=None)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory cap for Splink, e.g. 12GB")
    ap.add_argument("--work", type=Path, default=None, help="work directory (kept); default: a temp dir (removed)")
    ap.add_argument("--pseudonyms", type=int, default=None, help="only time pseudonymising this many values")
    ap.add_argument("--reuse-store", action="store_true", help="keep the store in --work from an earlier run")
    args = ap.parse_args(argv)
    if args.pseudonyms:
        print(json.dumps(bench_pseudonyms(args.pseudonyms)))
        return 0

    logging.getLogger("splink").setLevel(logging.ERROR)
    from carecommons.identity.evaluation import evaluate_against_truth
    from carecommons.identity.linkage import run_linkage
    from carecommons.store.analytics import connect

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-linkage-"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / "store.duckdb"
    try:
        t0 = time.perf_counter()
        if args.source == "noise":
            truth: pa.Table | Path = build_noise(store, args.gp, args.feed, args.seed, args.reuse_store)
        else:
            truth = build_synth(work, store, args.gp, args.seed)
        build_s = time.perf_counter() - t0

        con = connect(store)
        n_gp, n_sc, n_h = con.execute(
            "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM social_care_records), "
            "(SELECT count(*) FROM hospital_records)"
        ).fetchall()[0]
        spark = None
        if args.backend == "spark":
            from carecommons.identity.backends import local_spark_session

            spark = local_spark_session(work)
        t1 = time.perf_counter()
        result = run_linkage(
            con,
            backend=args.backend,
            threshold=args.threshold,
            spark=spark,
            work_dir=work / "link",
            seed=args.seed,
            em_max_pairs=args.em_max_pairs,
            memory_limit=args.memory_limit,
        )
        link_s = time.perf_counter() - t1
        m = evaluate_against_truth(con, truth)
        figures = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, 2 cores shared, 24 GiB",
            "source": args.source,
            "backend": args.backend,
            "gp_patients": n_gp,
            "social_care_records": n_sc,
            "hospital_records": n_h,
            "build_seconds": round(build_s, 1),
            "link_seconds": round(link_s, 1),
            "step_seconds": result.seconds,
            "counts": result.counts,
            "precision": round(m.precision, 5),
            "recall": round(m.recall, 5),
            "f1": round(m.f1, 5),
            "tp_fp_fn_tn": [m.true_positives, m.false_positives, m.false_negatives, m.true_negatives],
            "truth_not_loaded": m.not_in_index,
            "peak_rss_gib": round(_peak_rss_gib(), 2),
            "em_max_pairs": args.em_max_pairs,
        }
        print(json.dumps(figures))
        con.close()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
