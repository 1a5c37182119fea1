"""Canonical tables generated directly in DuckDB with SQL: fast, plausible volumes for engine tests and benchmarks.

This is NOT the synthetic London of carecommons.synth (real practices, prevalence by borough and IMD, source
formats exercised through ingest). It exists so the engine can be measured at 1 M and 10.7 M patients in
minutes without the source-format round trip: every value is a deterministic hash of the row number, so the
same arguments always give the same tables, and the code mix draws from the library's own codelists so every
definition finds patients.

Rows are written ordered by patient_id (row i of a patient-keyed table belongs to patient 1 + i // rows per
patient), the layout carecommons.store.clustering gives a real store at the end of ingest: each row group then
holds a narrow patient_id range, so a `patient_id BETWEEN a AND b` filter reads only its row groups (zone maps)
and the engine's patient-partitioned evaluation measures what it would on a clustered store.
"""

from __future__ import annotations

import duckdb

from carecommons.core.schema import TABLES_BY_NAME
from carecommons.definitions.library import Library

BOROUGHS = (
    ("Barnet", "NCL"), ("Camden", "NCL"), ("Enfield", "NCL"), ("Haringey", "NCL"), ("Islington", "NCL"),
    ("Barking and Dagenham", "NEL"), ("City of London", "NEL"), ("Hackney", "NEL"), ("Havering", "NEL"),
    ("Newham", "NEL"), ("Redbridge", "NEL"), ("Tower Hamlets", "NEL"), ("Waltham Forest", "NEL"),
    ("Brent", "NWL"), ("Ealing", "NWL"), ("Hammersmith and Fulham", "NWL"), ("Harrow", "NWL"),
    ("Hillingdon", "NWL"), ("Hounslow", "NWL"), ("Kensington and Chelsea", "NWL"), ("Westminster", "NWL"),
    ("Bexley", "SEL"), ("Bromley", "SEL"), ("Greenwich", "SEL"), ("Lambeth", "SEL"), ("Lewisham", "SEL"),
    ("Southwark", "SEL"), ("Croydon", "SWL"), ("Kingston upon Thames", "SWL"), ("Merton", "SWL"),
    ("Richmond upon Thames", "SWL"), ("Sutton", "SWL"), ("Wandsworth", "SWL"),
)  # fmt: skip
ETHNICITY_6 = ("White", "Mixed", "Asian or Asian British", "Black or Black British", "Other ethnic groups")

#: (codelist id, share of events, value range) for measurement codes; diagnosis lists share DIAGNOSIS_SHARE.
MEASURES = (
    ("bp_sys", 0.12, (95, 185)),
    ("bp_dia", 0.12, (55, 105)),
    ("hba1c", 0.03, (32, 95)),
    ("bmi", 0.03, (17, 46)),
)
DIAGNOSIS_SHARE = 0.03
SLOTS = 10000


def _u(expr: str, salt: int) -> str:
    """A uniform [0, 1) number from a hash of `expr` (deterministic, parallel-safe, unlike random())."""
    return f"((hash({expr}, {salt}) % 1000000007) / 1000000007.0)"


def generate(
    con: duckdb.DuckDBPyConnection,
    library: Library,
    patients: int,
    events_per_patient: int = 90,
    medications_per_patient: int = 8,
    patients_per_practice: int = 9000,
    progress=None,
) -> None:
    """Fill practices, patients, registrations, events, medications and vaccinations (replacing their rows)."""
    n_pr = max(1, patients // patients_per_practice)
    for t in ("practices", "patients", "registrations", "events", "medications", "vaccinations"):
        con.execute(TABLES_BY_NAME[t].ddl())
        con.execute(f"DELETE FROM {t}")
    boroughs = ", ".join(f"({i}, '{b.replace(chr(39), chr(39) * 2)}', '{icb}')" for i, (b, icb) in enumerate(BOROUGHS))
    con.execute(
        f"""INSERT INTO practices
        SELECT 'P' || lpad(CAST(i AS VARCHAR), 5, '0'), 'Practice ' || i, NULL,
               'PCN-' || upper(replace(b.name, ' ', '')) || '-' || lpad(CAST((i // {len(BOROUGHS)}) // 6 AS VARCHAR), 2, '0'),
               NULL, b.name, b.icb, NULL, NULL, NULL
        FROM range({n_pr}) t(i) JOIN (VALUES {boroughs}) b(k, name, icb) ON b.k = i % {len(BOROUGHS)}"""
    )
    eth = ", ".join(f"'{e}'" for e in ETHNICITY_6)
    con.execute(
        f"""INSERT INTO patients
        SELECT i + 1, NULL, NULL, NULL, DATE '1925-01-01' + CAST({_u("i", 1)} * 36000 AS INTEGER),
               CASE WHEN {_u("i", 2)} < 0.5 THEN 'F' ELSE 'M' END, NULL, NULL,
               CAST(1 + floor({_u("i", 3)} * 10) AS TINYINT), NULL, NULL,
               CASE WHEN {_u("i", 4)} < 0.05 THEN NULL ELSE [{eth}][1 + CAST(floor({_u("i", 5)} * 5) AS INTEGER)] END,
               CASE WHEN {_u("i", 6)} < 0.02 THEN DATE '2015-01-01' + CAST({_u("i", 7)} * 3650 AS INTEGER) END,
               'P' || lpad(CAST(CAST(floor({_u("i", 8)} * {n_pr}) AS INTEGER) AS VARCHAR), 5, '0'), 'bench'
        FROM range({patients}) t(i)"""
    )
    con.execute(
        f"""INSERT INTO registrations
        SELECT patient_id, practice_id,
               greatest(date_of_birth, DATE '1990-01-01' + CAST({_u("patient_id", 9)} * 12500 AS INTEGER)),
               CASE WHEN {_u("patient_id", 10)} < 0.05 THEN DATE '2020-01-01' + CAST({_u("patient_id", 11)} * 2000 AS INTEGER) END,
               'bench'
        FROM patients"""
    )
    if progress:
        progress("practices, patients, registrations")
    # Code pool: measurement codes by share, diagnosis codes of every register/indicator list, and noise.
    codes = library.codelists
    pool: list[tuple[str, float, float, float]] = []  # (code, share, lo, hi)
    for cl, share, (lo, hi) in MEASURES:
        for c in sorted(codes[cl].codes)[:2]:
            pool.append((c, share / 2, lo, hi))
    event_lists = sorted(
        {f.codelist for d in library.all_definitions() for t in d.trees() for f in _frames(t) if f.table == "events"}
        - {m[0] for m in MEASURES}
    )
    for cl in event_lists:
        for c in sorted(codes[cl].codes)[:2]:
            pool.append((c, DIAGNOSIS_SHARE / len(event_lists) / 2, 0, 0))
    used = sum(p[1] for p in pool)
    pool.append(("NOISE", 1.0 - used, 0, 0))
    # Equi-join on a slot number (SLOTS slots, each code owning slots in proportion to its share): a hash
    # join, where a range join on cumulative shares would compare every event with every code.
    rows, start = [], 0
    for i, (code, share, lo, hi) in enumerate(pool):
        end = SLOTS if i == len(pool) - 1 else start + max(1, round(share * SLOTS))
        rows += [f"({slot}, '{code}', {lo}, {hi})" for slot in range(start, end)]
        start = end
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE cc_syn_pool AS SELECT * FROM (VALUES {', '.join(rows)}) t(slot, code, vlo, vhi)"
    )
    n_events = patients * events_per_patient
    con.execute(
        f"""INSERT INTO events
        SELECT 1 + i // {events_per_patient} AS patient_id, 'P00000',
               CASE WHEN p.code = 'NOISE' THEN CAST(100000 + CAST({_u("i", 13)} * 5000 AS INTEGER) AS VARCHAR) ELSE p.code END,
               DATE '2000-01-01' + CAST({_u("i", 14)} * 9200 AS INTEGER),
               CASE WHEN p.vhi > 0 THEN round(p.vlo + {_u("i", 15)} * (p.vhi - p.vlo)) END, NULL, 'bench'
        FROM range({n_events}) t(i)
        JOIN cc_syn_pool p ON p.slot = CAST(floor({_u("i", 12)} * {SLOTS}) AS INTEGER)"""
    )
    if progress:
        progress("events")
    meds = sorted(codes["statin"].codes)[:3] + sorted(codes["doac"].codes)[:2] + sorted(codes["warfarin"].codes)[:1]
    med_arr = ", ".join(f"'{c}'" for c in meds)
    con.execute(
        f"""INSERT INTO medications
        SELECT 1 + i // {medications_per_patient}, 'P00000',
               CASE WHEN {_u("i", 16)} < 0.3 THEN [{med_arr}][1 + CAST(floor({_u("i", 17)} * {len(meds)}) AS INTEGER)]
                    ELSE CAST(200000 + CAST({_u("i", 18)} * 3000 AS INTEGER) AS VARCHAR) END,
               DATE '2015-01-01' + CAST({_u("i", 19)} * 3700 AS INTEGER), 'bench'
        FROM range({patients * medications_per_patient}) t(i)"""
    )
    flu = sorted(codes["flu_given"].codes)[0]
    con.execute(
        f"""INSERT INTO vaccinations
        SELECT 1 + i // 2, 'P00000', '{flu}', DATE '2018-09-01' + CAST({_u("i", 20)} * 2400 AS INTEGER), 'bench'
        FROM range({patients * 2}) t(i)"""
    )
    con.execute("DROP TABLE cc_syn_pool")
    if progress:
        progress("medications, vaccinations")


def _frames(tree):
    from carecommons.definitions.model import Agg, walk

    for node in walk(tree):
        if isinstance(node, Agg):
            yield node.frame
