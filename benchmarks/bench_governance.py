"""Governance at London scale: disclosure control of a city-wide roll-up, the planning view, audit appends.

Usage: .venv/bin/python benchmarks/bench_governance.py [--practices 1200] [--patients 1000000]
       [--age-bands 0] [--audit 2000] [--audit-bulk 20000] [--seed 3]

1. publish(): a roll-up practice > PCN > borough > ICB > London, by sex (and by age band with --age-bands N),
   with list-size-like counts of a condition (prevalence drawn per practice, so many cells are small).
2. allowed_patients(): a planning view over --patients patients in DuckDB with 1% Type 1 opt-outs coded as
   events and 3% National Data Opt-outs in the operational DB (SQLite).
3. audit.record(): --audit single-patient appends on SQLite, one --audit-bulk patient call, then verify().
Prints wall time and peak RSS after each step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from carecommons.governance import audit, optouts, orgs, users
from carecommons.governance.agreements import Flow, add_agreement
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.disclosure import Hierarchy, publish
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.analytics import create_tables
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def practices_frame(n_practices: int, rng: np.random.Generator) -> pd.DataFrame:
    """Practices nested ~6 per PCN, ~6 PCNs per borough, 33 boroughs over 5 ICBs (London's shape)."""
    pcn = np.arange(n_practices) // 6
    borough = pcn // 6 % 33
    return pd.DataFrame(
        {
            "practice_id": [f"P{i:05d}" for i in range(n_practices)],
            "pcn_id": [f"PCN{p:04d}" for p in pcn],
            "borough": [f"B{b:02d}" for b in borough],
            "icb": [f"I{b % 5}" for b in borough],
            "list_size": rng.integers(1500, 20000, n_practices),
        }
    )


def rollup(pr: pd.DataFrame, age_bands: int, rng: np.random.Generator) -> tuple[pd.DataFrame, Hierarchy]:
    cells = []
    sexes = ["F", "M"]
    bands = [f"A{a:02d}" for a in range(age_bands)] or [None]
    prevalence = rng.uniform(0.002, 0.08, len(pr))
    for (_, row), prev in zip(pr.iterrows(), prevalence, strict=True):
        per_cell = row.list_size * prev / (len(sexes) * len(bands))
        for s in sexes:
            for b in bands:
                cells.append((row.practice_id, row.pcn_id, row.borough, row.icb, s, b, rng.poisson(per_cell)))
    leaf = pd.DataFrame(cells, columns=["practice_id", "pcn_id", "borough", "icb", "sex", "age_band", "n"])
    keys = ["practice_id", "pcn_id", "borough", "icb"]
    breakdowns = ["sex"] + (["age_band"] if age_bands else [])
    frames = []
    for depth in range(len(keys) + 1):
        for bd in [["sex", "age_band"], ["sex"], ["age_band"], []] if age_bands else [["sex"], []]:
            by = keys[depth:] + bd
            agg = leaf.groupby(by)["n"].sum().reset_index() if by else pd.DataFrame({"n": [leaf["n"].sum()]})
            for c in keys + ["sex", "age_band"]:
                if c not in agg.columns:
                    agg[c] = None
            frames.append(agg[keys + ["sex", "age_band", "n"]])
    return pd.concat(frames, ignore_index=True), Hierarchy(levels=keys, breakdowns=breakdowns)


def bench_publish(args: argparse.Namespace, rng: np.random.Generator) -> None:
    df, h = rollup(practices_frame(args.practices, rng), args.age_bands, rng)
    t = time.perf_counter()
    out = publish(df, ["n"], h)
    secs = time.perf_counter() - t
    primary = int(((df["n"] >= 1) & (df["n"] <= 7)).sum())
    hidden = int(out["n"].isna().sum())
    print(
        f"publish: {len(df):,} cells, {primary:,} primary, {hidden - primary:,} secondary suppressions, "
        f"{secs:.2f} s, peak RSS {rss_mib():.0f} MiB"
    )


def bench_view(args: argparse.Namespace, rng: np.random.Generator, tmp: Path) -> None:
    con = duckdb.connect(str(tmp / "store.duckdb"))
    create_tables(con)
    pr = practices_frame(args.practices, rng)
    pr["name"] = pr["practice_id"]
    pr["pcn_name"] = pr["pcn_id"]
    con.execute(
        "INSERT INTO practices SELECT practice_id, name, NULL, pcn_id, pcn_name, borough, icb, list_size, NULL, NULL "
        "FROM pr"
    )
    n = args.patients
    ids = np.arange(1, n + 1, dtype=np.int64)
    nhs = np.char.mod("%010d", rng.integers(10**9, 10**10 - 1, n))
    patients = pa.table(
        {"patient_id": ids, "nhs_number": nhs, "practice_id": pr["practice_id"].to_numpy()[rng.integers(0, len(pr), n)]}
    )
    con.register("patients_arrow", patients)
    con.execute(
        "INSERT INTO patients (patient_id, nhs_number, date_of_birth, sex, practice_id, load_id) "
        "SELECT patient_id, nhs_number, DATE '1960-01-01', 'F', practice_id, 'B' FROM patients_arrow"
    )
    type1 = rng.choice(ids, n // 100, replace=False)
    con.register("t1", pa.table({"patient_id": type1}))
    con.execute(
        "INSERT INTO events SELECT t1.patient_id, p.practice_id, '827241000000103', DATE '2020-01-01', NULL, NULL, 'B' "
        "FROM t1 JOIN patients p USING (patient_id)"
    )
    url = f"sqlite:///{tmp / 'op.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        orgs.sync_from_store(session, con)
        users.create_user(session, "analyst", "benchmark-password", "analyst", "london")
        add_agreement(session, "L", "london", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], dt.date(2026, 1, 1))
        ndop = rng.choice(ids, 3 * n // 100, replace=False)
        optouts.record_ndop(session, patient_ids=ndop.tolist())
        r = Requester("analyst", "analyst", "london", Purpose.PLANNING)
        t = time.perf_counter()
        name = allowed_patients(con, r, session)
        secs = time.perf_counter() - t
        kept = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        print(
            f"allowed_patients (planning): {n:,} patients -> {kept:,} in view, {secs:.2f} s, peak RSS {rss_mib():.0f} MiB"
        )

        gp = Requester("gp", "gp", "P00000", Purpose.DIRECT_CARE)
        t = time.perf_counter()
        for i in range(args.audit):
            audit.record(session, gp, "read_record", [i + 1])
        secs = time.perf_counter() - t
        print(f"audit.record: {args.audit:,} appends on SQLite, {args.audit / secs:,.0f} per second")
        t = time.perf_counter()
        audit.record(session, gp, "worklist", list(range(1, args.audit_bulk + 1)))
        print(f"audit.record: one call for {args.audit_bulk:,} patients, {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        result = audit.verify(session)
        print(f"audit.verify: {result.checked:,} entries ok={result.ok}, {time.perf_counter() - t:.2f} s")
    engine.dispose()
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--practices", type=int, default=1200)
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--age-bands", type=int, default=0)
    ap.add_argument("--audit", type=int, default=2000)
    ap.add_argument("--audit-bulk", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    bench_publish(args, rng)
    with tempfile.TemporaryDirectory() as tmp:
        bench_view(args, rng, Path(tmp))


if __name__ == "__main__":
    main()
