"""Ingest throughput: FHIR NDJSON resources/s and CSV rows/s on generated GP extracts.

Usage: .venv/bin/python benchmarks/bench_ingest.py [--patients 20000] [--obs-per-patient 40] [--practices 4]
       [--workers N]

Generates FHIR and CSV extracts (DuckDB COPY, so generation is not the bottleneck), then times
`carecommons.ingest.ingest` on each into a fresh store. Until synth lands this stands in for a
synthetic London; the resource mix (Patient, EpisodeOfCare, Observation with values, Condition,
MedicationRequest, Encounter) matches docs/source-formats.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from carecommons.ingest import ingest
from carecommons.store.analytics import connect
from carecommons.store.clustering import cluster_by_patient

OBS_CODES = ["271649006", "72313002", "999791000000106", "60621009", "27113001"]
OBS_UNITS = ["mmHg", "mm[Hg]", "mmol/mol", "kg/m2", "kg"]


def _manifest(extract: Path, ods: str, system: str) -> None:
    files = {}
    for p in sorted(extract.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            files[p.relative_to(extract).as_posix()] = {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    meta = {"feed": "gp", "practice_id": ods, "extract_date": "2026-11-01", "system": system, "files": files}
    (extract / "manifest.json").write_text(json.dumps(meta))


def generate_fhir(root: Path, practices: int, patients: int, obs: int) -> int:
    con = duckdb.connect()
    per = patients // practices
    total = 0
    for k in range(practices):
        ods = f"E8{k:04d}"
        d = root / "gp" / ods / "2026-11-01" / "fhir"
        d.mkdir(parents=True)
        lo = k * per + 1
        hi = lo + per
        pats = f"range({lo}, {hi}) t(i)"
        con.execute(f"""COPY (SELECT 'Patient' AS resourceType, CAST(i AS VARCHAR) AS id,
            [{{'system': 'https://fhir.nhs.uk/Id/nhs-number', 'value': NULL}}] AS identifier,
            [{{'given': ['Ann'], 'family': 'Smith'}}] AS name,
            CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END AS gender,
            CAST(DATE '1940-01-01' + INTERVAL (i % 20000) DAY AS DATE)::VARCHAR AS birthDate
            FROM {pats}) TO '{d}/Patient.ndjson' (FORMAT json)""")
        con.execute(f"""COPY (SELECT 'EpisodeOfCare' AS resourceType, {{'reference': 'Patient/' || i}} AS patient,
            {{'identifier': {{'value': '{ods}'}}}} AS managingOrganization, {{'start': '2010-01-01'}} AS period
            FROM {pats}) TO '{d}/EpisodeOfCare.ndjson' (FORMAT json)""")
        con.execute(f"""COPY (SELECT 'Observation' AS resourceType, {{'reference': 'Patient/' || i}} AS subject,
            {{'coding': [{{'system': 'http://snomed.info/sct', 'code': ({OBS_CODES})[1 + j % 5]}}]}} AS code,
            CAST(DATE '2020-01-01' + INTERVAL ((i * 7 + j * 31) % 2000) DAY AS DATE)::VARCHAR AS effectiveDateTime,
            {{'value': 50 + (i + j) % 100, 'unit': ({OBS_UNITS})[1 + j % 5]}} AS valueQuantity
            FROM {pats}, range({obs}) s(j)) TO '{d}/Observation.ndjson' (FORMAT json)""")
        con.execute(f"""COPY (SELECT 'Condition' AS resourceType, {{'reference': 'Patient/' || i}} AS subject,
            {{'coding': [{{'system': 'http://snomed.info/sct', 'code': '38341003'}}]}} AS code,
            '2015-06-01' AS onsetDateTime FROM {pats}) TO '{d}/Condition.ndjson' (FORMAT json)""")
        con.execute(f"""COPY (SELECT 'Encounter' AS resourceType, {{'reference': 'Patient/' || i}} AS subject,
            {{'start': '2024-0' || (1 + j % 9) || '-01'}} AS period, {{'code': 'AMB'}} AS class
            FROM {pats}, range(5) s(j)) TO '{d}/Encounter.ndjson' (FORMAT json)""")
        _manifest(d.parent, ods, "fhir")
        total += per * (1 + 1 + obs + 1 + 5)
    return total


def generate_csv(root: Path, practices: int, patients: int, obs: int) -> int:
    con = duckdb.connect()
    per = patients // practices
    total = 0
    for k in range(practices):
        ods = f"F8{k:04d}"
        d = root / "gp" / ods / "2026-11-01" / "csv"
        d.mkdir(parents=True)
        lo = k * per + 1
        pats = f"range({lo}, {lo + per}) t(i)"
        con.execute(f"""COPY (SELECT i AS patient_id, '' AS nhs_number, 'Ann' AS given_name, 'Smith' AS family_name,
            CAST(DATE '1940-01-01' + INTERVAL (i % 20000) DAY AS DATE) AS date_of_birth,
            CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS sex, '' AS postcode, '' AS lsoa, '' AS ethnicity_code,
            '' AS date_of_death FROM {pats}) TO '{d}/patients.csv' (HEADER)""")
        con.execute(f"""COPY (SELECT i AS patient_id, ({OBS_CODES})[1 + j % 5] AS code,
            CAST(DATE '2020-01-01' + INTERVAL ((i * 7 + j * 31) % 2000) DAY AS DATE) AS date,
            50 + (i + j) % 100 AS value, ({OBS_UNITS})[1 + j % 5] AS unit
            FROM {pats}, range({obs}) s(j)) TO '{d}/events.csv' (HEADER)""")
        _manifest(d.parent, ods, "csv")
        total += per * (1 + obs)
    return total


def _cpu() -> float:
    """CPU seconds of this process (all DuckDB threads): the machine is shared, so wall time alone misleads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=20000)
    ap.add_argument("--obs-per-patient", type=int, default=40)
    ap.add_argument("--practices", type=int, default=4)
    ap.add_argument("--workers", type=int, default=None, help="extracts staged at once (default: ingest's own)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        for kind, gen in (("fhir", generate_fhir), ("csv", generate_csv)):
            src = work / kind
            t = time.perf_counter()
            n = gen(src, args.practices, args.patients, args.obs_per_patient)
            gen_s = time.perf_counter() - t
            size = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
            store = work / f"{kind}.duckdb"
            load_before = os.getloadavg()[0]
            t, c = time.perf_counter(), _cpu()
            summary = ingest(store, [src], progress=False, workers=args.workers, cluster=False)
            secs, cpu = time.perf_counter() - t, _cpu() - c
            assert summary.ok and summary.received == n, (summary.received, n)
            # Clustering (what `ingest` does next by default) is timed on its own, so the load rate stays comparable.
            t, c = time.perf_counter(), _cpu()
            con = connect(store)
            try:
                clustered = cluster_by_patient(con)
            finally:
                con.close()
            cl_s, cl_cpu = time.perf_counter() - t, _cpu() - c
            cl_rows = sum(x.rows for x in clustered if x.rewritten)
            t = time.perf_counter()
            again = ingest(store, [src], progress=False)
            skip_s = time.perf_counter() - t
            assert all(e.status == "skipped" for e in again.extracts)
            unit = "resources" if kind == "fhir" else "rows"
            print(
                f"{kind}: {n:,} {unit} ({size / 1e6:.0f} MB, {args.practices} practices) in {secs:.2f} s = "
                f"{n / secs:,.0f} {unit}/s; CPU {cpu:.2f} s = {n / cpu:,.0f} {unit}/CPU-s; "
                f"quarantined {summary.quarantined}; then clustering {cl_rows:,} rows by patient {cl_s:.2f} s "
                f"(CPU {cl_cpu:.2f} s); re-run (all skipped) {skip_s:.2f} s; generation {gen_s:.1f} s; "
                f"load average before {load_before:.1f}, at end {os.getloadavg()[0]:.1f}; workers {args.workers or 'default'}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
