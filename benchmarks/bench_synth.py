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
    ap.add_argument("--report", action="store_true", help="after a csv run: prevalence vs QOF, DM by IMD decile")
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
    if args.report and args.format == "csv":
        report(out, dt.date(2026, 11, 1))
    if not args.keep:
        shutil.rmtree(out)


def report(out: Path, extract: dt.date) -> None:
    """Register prevalence computed the QOF way from the written CSVs (DuckDB), against the reference figures."""
    import duckdb

    from carecommons.core.paths import REFERENCE_DATA
    from carecommons.reference.codelists import shipped
    from carecommons.reference.organisations import borough_lsoas
    from carecommons.synth.codes import REGISTER_SPECS

    con = duckdb.connect()
    gp = out / "gp"
    con.execute(f"""CREATE TABLE pats AS SELECT p.patient_id, p.lsoa, p.date_of_birth, split_part(p.filename, '/', -4)
        AS practice_id FROM read_csv('{gp}/*/*/csv/patients.csv', filename=true, all_varchar=true) p
        JOIN read_csv('{gp}/*/*/csv/registrations.csv', all_varchar=true) r USING (patient_id)
        WHERE r.end_date IS NULL AND p.date_of_death IS NULL""")
    con.execute(
        f"CREATE TABLE ev AS SELECT patient_id, code FROM read_csv('{gp}/*/*/csv/events.csv', all_varchar=true)"
    )
    con.execute(f"CREATE TABLE prac AS SELECT * FROM read_csv('{out}/reference/practices.csv')")
    ref = REFERENCE_DATA / "reference"
    con.execute(f"CREATE TABLE lad AS SELECT * FROM read_csv('{ref}/output_lad_prevalence.csv')")
    lsoa = borough_lsoas().rename(columns={"imd_decile": "imd"})  # noqa: F841 - DuckDB reads it by name
    con.execute("CREATE TABLE lsoa AS SELECT lsoa, imd FROM lsoa")
    print("group  register  expected  ratio  boroughs |z|>3")
    for group, (stems, _pref, min_age, _m, _w) in REGISTER_SPECS.items():
        codes = sorted(set().union(*(shipped(s).codes for s in stems)))
        con.execute("CREATE OR REPLACE TABLE codes AS SELECT unnest(?) AS code", [codes])
        rows = con.execute(f"""
            WITH elig AS (SELECT pats.*, prac.borough FROM pats JOIN prac USING (practice_id)
                          WHERE date_diff('year', CAST(date_of_birth AS DATE), DATE '{extract}') >= {min_age}),
                 coded AS (SELECT DISTINCT patient_id FROM ev JOIN codes USING (code)),
                 b AS (SELECT borough, count(*) AS n, count(coded.patient_id) AS reg FROM elig
                       LEFT JOIN coded USING (patient_id) GROUP BY borough)
            SELECT sum(reg), sum(n * l.prevalence),
                   sum(CASE WHEN abs(reg - n * l.prevalence) > 3 * sqrt(n * l.prevalence) THEN 1 ELSE 0 END)
            FROM b JOIN lad l ON l.lad_name = b.borough AND l.group_code = '{group}'""").fetchone()
        if rows and rows[1]:
            print(f"{group:5} {rows[0]:9,} {rows[1]:9,.0f}  {rows[0] / rows[1]:.3f}  {rows[2]}")
    dm = sorted(shipped("nhsd-primary-care-domain-refsets-dm_cod").codes)
    con.execute("CREATE OR REPLACE TABLE codes AS SELECT unnest(?) AS code", [dm])
    res = con.execute(f"""
        WITH coded AS (SELECT DISTINCT patient_id FROM ev JOIN codes USING (code))
        SELECT imd, round(100.0 * count(coded.patient_id) / count(*), 2) FROM pats JOIN lsoa USING (lsoa)
        LEFT JOIN coded USING (patient_id)
        WHERE date_diff('year', CAST(date_of_birth AS DATE), DATE '{extract}') >= 17 GROUP BY imd ORDER BY imd""").fetchall()
    print("DM 17+ prevalence % by IMD decile (1 = most deprived):", res)


if __name__ == "__main__":
    main()
