"""`carecommons run`: compute the library over the record store into versioned results tables.

One run = one compiled query over the store (engine.compiler) for all definitions and all index dates, then
three writes in the DuckDB store; on a big store (engine.partition) the query and the writes repeat per
patient range, so memory holds one range's rows:

* ``results_population``: who was in the population at each index date, with the practice and the
  demographic breakdown values (the denominator of every register);
* ``results_patient``: per patient, definition and index date, the den/num/exc flags and value, for every
  patient in a denominator or numerator (direct care reads these, through governance);
* ``results_aggregate``: counts per organisation level and breakdown for every definition. This table is
  internal and unsuppressed: it never leaves the platform except through engine.results.aggregates, which
  recomputes with opt-outs applied and passes governance.disclosure.publish.

Rows carry the definition version and the data snapshot id, so a figure can always be traced to the rule and
the data it came from; re-running the same snapshot replaces the same rows instead of duplicating them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from carecommons.core.errors import InvalidInput
from carecommons.core.orgs import OrgLevel
from carecommons.definitions.definition import Kind
from carecommons.definitions.library import Library
from carecommons.definitions.overrides import OrgChain
from carecommons.definitions.plan import Planned
from carecommons.engine import backends, partition, stored
from carecommons.engine.compiler import compile_plan

WIDE = "cc_wide"
AGG_PARTS = "cc_agg_parts"
BACKENDS = ("duckdb", "spark")

RESULTS_DDL = (
    """CREATE TABLE IF NOT EXISTS results_runs (
  run_id VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL, backend VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, index_dates VARCHAR NOT NULL,
  definitions VARCHAR NOT NULL, kinds VARCHAR NOT NULL, seconds DOUBLE, population_rows BIGINT)""",
    """CREATE TABLE IF NOT EXISTS results_population (
  snapshot_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, index_date DATE NOT NULL, patient_id BIGINT NOT NULL,
  practice_id VARCHAR NOT NULL, age INTEGER, age_band VARCHAR, sex VARCHAR, ethnicity_6 VARCHAR,
  imd_quintile TINYINT)""",
    """CREATE TABLE IF NOT EXISTS results_patient (
  definition_id VARCHAR NOT NULL, definition_version VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL,
  run_id VARCHAR NOT NULL, index_date DATE NOT NULL, patient_id BIGINT NOT NULL, practice_id VARCHAR NOT NULL,
  den BOOLEAN NOT NULL, num BOOLEAN NOT NULL, exc BOOLEAN NOT NULL, value DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS results_aggregate (
  definition_id VARCHAR NOT NULL, definition_version VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL,
  run_id VARCHAR NOT NULL, index_date DATE NOT NULL, level VARCHAR NOT NULL, org_id VARCHAR NOT NULL,
  breakdown VARCHAR, breakdown_value VARCHAR, denominator BIGINT NOT NULL, numerator BIGINT NOT NULL,
  exclusions BIGINT NOT NULL)""",
)

#: Demographic breakdowns of results_aggregate (None = all patients).
BREAKDOWNS: tuple[str | None, ...] = (None, "age_band", "sex", "ethnicity_6", "imd_quintile")
ORG_COLUMNS = ("practice_id", "pcn_id", "borough", "icb")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    snapshot_id: str
    backend: str
    index_dates: list[dt.date]
    definitions: dict[str, str]  # id -> version
    population_rows: int
    patient_rows: int
    aggregate_rows: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def create_results_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in RESULTS_DDL:
        con.execute(ddl)


def snapshot_id(con: duckdb.DuckDBPyConnection) -> str:
    """A stable id of the data a run reads: the committed loads (ingest's manifest), else table fingerprints.

    Two runs over the same loads share a snapshot id, so their results replace each other; any new load
    changes it, so older results stay queryable next to newer ones.
    """
    h = hashlib.sha256()
    rows = con.execute(
        "SELECT load_id, source_file, sha256 FROM load_manifest WHERE status = 'committed' ORDER BY 1, 2"
    ).fetchall()
    if rows:
        for r in rows:
            h.update("|".join(map(str, r)).encode())
    else:
        for t in ("patients", "registrations", "events", "medications", "vaccinations"):
            n, mx = con.execute(f"SELECT COUNT(*), MAX(patient_id) FROM {t}").fetchone()
            h.update(f"{t}:{n}:{mx}".encode())
    return h.hexdigest()[:16]


def practice_chains(con: duckdb.DuckDBPyConnection) -> list[OrgChain]:
    return [
        OrgChain(practice_id=p, pcn_id=n, borough=b, icb=i)
        for p, n, b, i in con.execute("SELECT practice_id, pcn_id, borough, icb FROM practices ORDER BY 1").fetchall()
    ]


def _age_band_sql(col: str) -> str:
    """Five-year bands to 90+ (the European Standard Population bands the stats layer standardises with)."""
    return (
        f"CASE WHEN {col} >= 90 THEN '90+' ELSE "
        f"lpad(CAST(({col} // 5) * 5 AS VARCHAR), 2, '0') || '-' || lpad(CAST(({col} // 5) * 5 + 4 AS VARCHAR), 2, '0') END"
    )


def duckdb_evaluate(
    con: duckdb.DuckDBPyConnection,
    codes: dict[str, frozenset[str]],
    plan: list[Planned],
    dates: list[dt.date],
    table: str,
    chunks: int | None = None,
    on_range: Callable[[int, int], None] | None = None,
) -> int:
    """Evaluate `plan` into TEMP table `table` on DuckDB, over patient ranges when the store is big, as the
    compact rows a run stores (engine.stored: one flags byte per definition).

    The number of ranges comes from partition.choose_chunks (store size and memory limit; `chunks` or the
    CARECOMMONS_ENGINE_CHUNKS environment variable override it); one range runs the plain, unpartitioned query.
    Either way the rows are the same."""
    n = partition.choose_chunks(con, len(dates), chunks)
    compiled = compile_plan(plan, codes, dates, "duckdb", partitioned=n > 1)
    ranges = partition.patient_ranges(con, n) if n > 1 else None
    return backends.duckdb_materialise(con, compiled, table, ranges, on_range, _wrapper(plan))


def _wrapper(plan: list[Planned]) -> Callable[[str], str]:
    return lambda sql: stored.stored_query(plan, sql)


def _spark_materialise(
    con: duckdb.DuckDBPyConnection, library: Library, plan: list[Planned], dates: list[dt.date]
) -> int:
    from carecommons.engine.spark import ENGINE_TABLES, register_from_duckdb, session

    spark = session()
    with tempfile.TemporaryDirectory(prefix="cc-spark-") as tmp:
        register_from_duckdb(spark, con, Path(tmp), ENGINE_TABLES)
        compiled = compile_plan(plan, library.codes(), dates, "spark")
        arrow = backends.spark_dataframe(spark, compiled).toArrow()  # noqa: F841 - read by DuckDB below
        con.execute(f"CREATE OR REPLACE TEMP TABLE {WIDE} AS {stored.stored_query(plan, 'SELECT * FROM arrow')}")
    return con.execute(f"SELECT COUNT(*) FROM {WIDE}").fetchone()[0]


def _evaluations(
    con: duckdb.DuckDBPyConnection,
    library: Library,
    plan: list[Planned],
    dates: list[dt.date],
    backend: str,
    chunks: int | None,
) -> list[Callable[[], int]]:
    """One callable per patient range, each (re)filling the WIDE temp table with that range's rows.

    DuckDB splits the store into partition.choose_chunks ranges (one range: the plain query); Spark runs the
    whole store as one query."""
    if backend != "duckdb":
        return [lambda: _spark_materialise(con, library, plan, dates)]
    n = partition.choose_chunks(con, len(dates), chunks)
    compiled = compile_plan(plan, library.codes(), dates, "duckdb", partitioned=n > 1)
    wrap = _wrapper(plan)
    if n == 1:
        return [lambda: backends.duckdb_materialise(con, compiled, WIDE, wrap=wrap)]
    return [
        (lambda r=r: backends.duckdb_materialise(con, compiled, WIDE, [r], wrap=wrap))
        for r in partition.patient_ranges(con, n)
    ]


def _delete_previous(con, snap: str, plan: list[Planned], dates: list[dt.date]) -> None:
    """Remove this snapshot's earlier rows for these definitions and dates (inside the run's transaction)."""
    con.execute(
        "DELETE FROM results_population WHERE snapshot_id = ? AND index_date IN (SELECT UNNEST(?::DATE[]))",
        [snap, dates],
    )
    ids = [p.definition_id for p in plan]
    for table in ("results_patient", "results_aggregate"):
        con.execute(
            f"DELETE FROM {table} WHERE snapshot_id = ? AND definition_id IN (SELECT UNNEST(?::VARCHAR[])) "
            "AND index_date IN (SELECT UNNEST(?::DATE[]))",
            [snap, ids, dates],
        )


def _write_population(con, snap: str, run_id: str) -> int:
    con.execute(
        f"""INSERT INTO results_population SELECT ?, ?, index_date, patient_id, practice_id, age,
        {_age_band_sql("age")}, sex, ethnicity_6, CAST((imd_decile + 1) // 2 AS TINYINT) FROM {WIDE}""",
        [snap, run_id],
    )
    return con.execute("SELECT COUNT(*) FROM results_population WHERE run_id = ?", [run_id]).fetchone()[0]


def _write_patient(con, snap: str, run_id: str, plan: list[Planned]) -> int:
    for p in plan:
        den, num, exc = (stored.flag(p, f) + " = 1" for f in ("den", "num", "exc"))
        value = stored.value(p)
        keep = num if p.kind == Kind.REGISTER else f"({den} OR {num})"
        if p.kind == Kind.VARIABLE:
            keep = f"({value} IS NOT NULL)"
        con.execute(
            f"""INSERT INTO results_patient SELECT ?, ?, ?, ?, index_date, patient_id, practice_id,
            {den}, {num}, {exc}, {value} FROM {WIDE} WHERE {keep}""",
            [p.definition_id, p.version, snap, run_id],
        )
    return con.execute("SELECT COUNT(*) FROM results_patient WHERE run_id = ?", [run_id]).fetchone()[0]


def _sums(plan: list[Planned], stored_rows: bool = False) -> str:
    """SUM of each definition's den/num/exc: decoded from the stored flags, or of columns already counted."""
    return ", ".join(
        f"SUM({stored.flag(p, s) if stored_rows else f'{p.column}_{s}'}) AS {p.column}_{s}"
        for p in plan
        for s in ("den", "num", "exc")
    )


def _aggregate_range(con, plan: list[Planned], first: bool) -> int:
    """Practice-level counts of the WIDE rows, overall and by each breakdown (one GROUPING SETS pass of five
    sets), appended to a temp table; the coarser levels are rolled up from it in _write_aggregate.

    Why two stages: practice -> PCN -> borough -> ICB -> London is a tree, so every coarser count is a sum of
    practice counts. Grouping the patient-level rows by all 25 (level x breakdown) sets built 25 hash tables
    over every patient-date row (at 1 M x 24 dates, 60% of `run`); five are needed. Per-range partial counts
    add up the same way, so ranges need no separate merge."""
    sets = ", ".join("(" + ", ".join(["index_date", "practice_id"] + ([b] if b else [])) + ")" for b in BREAKDOWNS)
    bd_case = " ".join(f"WHEN GROUPING({b}) = 0 THEN '{b}'" for b in BREAKDOWNS if b)
    bd_value = " ".join(f"WHEN GROUPING({b}) = 0 THEN CAST({b} AS VARCHAR)" for b in BREAKDOWNS if b)
    select = f"""SELECT index_date, practice_id, CASE {bd_case} END AS breakdown,
               CASE {bd_value} END AS breakdown_value, {_sums(plan, stored_rows=True)}
        FROM (SELECT w.*, {_age_band_sql("w.age")} AS age_band,
                     CAST((w.imd_decile + 1) // 2 AS TINYINT) AS imd_quintile FROM {WIDE} AS w) AS x
        GROUP BY GROUPING SETS ({sets})"""
    if first:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {AGG_PARTS} AS {select}")
    else:
        con.execute(f"INSERT INTO {AGG_PARTS} {select}")
    return con.execute(f"SELECT COUNT(*) FROM {AGG_PARTS}").fetchone()[0]


def _write_aggregate(con, snap: str, run_id: str, plan: list[Planned]) -> int:
    """Roll the practice-level counts (summed over patient ranges) up to every level and insert them per
    definition; the roll-up sums partial counts whatever the number of ranges."""
    sets = []
    for level in (*ORG_COLUMNS, None):
        cols = ["index_date"] + ([level] if level else []) + ["breakdown", "breakdown_value"]
        sets.append("(" + ", ".join(cols) + ")")
    level_case = (
        "CASE WHEN GROUPING(practice_id) = 0 THEN 'practice_id' WHEN GROUPING(pcn_id) = 0 THEN 'pcn_id' "
        "WHEN GROUPING(borough) = 0 THEN 'borough' WHEN GROUPING(icb) = 0 THEN 'icb' ELSE 'london' END"
    )
    org_case = "COALESCE(practice_id, pcn_id, borough, icb, 'London')"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cc_agg AS
        SELECT index_date, {level_case} AS level, {org_case} AS org_id, breakdown, breakdown_value, {_sums(plan)}
        FROM (SELECT a.*, pr.pcn_id, pr.borough, pr.icb
              FROM {AGG_PARTS} AS a JOIN practices AS pr ON pr.practice_id = a.practice_id) AS x
        GROUP BY GROUPING SETS ({", ".join(sets)})"""
    )
    for p in plan:
        c = p.column
        con.execute(
            f"""INSERT INTO results_aggregate SELECT ?, ?, ?, ?, index_date, level, org_id, breakdown,
            breakdown_value, {c}_den, {c}_num, {c}_exc FROM cc_agg""",
            [p.definition_id, p.version, snap, run_id],
        )
    return con.execute("SELECT COUNT(*) FROM results_aggregate WHERE run_id = ?", [run_id]).fetchone()[0]


def run(
    con: duckdb.DuckDBPyConnection,
    library: Library,
    index_dates: list[dt.date],
    backend: str = "duckdb",
    progress: bool = True,
    definition_ids: Iterable[str] | None = None,
    chunks: int | None = None,
) -> RunSummary:
    """Evaluate the library (with local overrides) at every index date and write the results tables.

    `chunks` fixes the number of patient ranges DuckDB evaluates one after another (default: chosen from the
    store size and memory limit, see engine.partition); Spark always runs one query."""
    if backend not in BACKENDS:
        raise InvalidInput("backend", f"{backend!r} is not supported", f"use one of {', '.join(BACKENDS)}")
    if not index_dates:
        raise InvalidInput("index dates", "none given", "give at least one, e.g. --index-date 2025-03-31")
    dates = sorted(set(index_dates))
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    run_id = uuid.uuid4().hex[:12]
    timings: dict[str, float] = {}
    create_results_tables(con)
    snap = snapshot_id(con)
    plan = library.plan(practice_chains(con), definition_ids)
    if not plan:
        raise InvalidInput("definitions", "nothing to run", "check the definition ids")

    evaluations = _evaluations(con, library, plan, dates, backend, chunks)
    n = len(evaluations)
    # Per patient range: evaluate into the WIDE temp table, then append its population, patient rows and
    # partial aggregates, so memory holds one range's rows whatever the store size and the number of dates.
    steps: list[tuple[str, Callable[[], int]]] = []
    for i, evaluate in enumerate(evaluations):
        label = f" ({i + 1}/{n} patient ranges)" if n > 1 else ""
        steps += [
            ("evaluate definitions" + label, evaluate),
            ("write population" + label, lambda: _write_population(con, snap, run_id)),
            ("write patient results" + label, lambda: _write_patient(con, snap, run_id, plan)),
            ("write aggregates" + label, lambda first=i == 0: _aggregate_range(con, plan, first)),
        ]
    steps.append(("write aggregates", lambda: _write_aggregate(con, snap, run_id, plan)))
    counts: dict[str, int] = {}
    versions = {p.definition_id: p.version for p in plan}
    # The first range is evaluated into a TEMP table before anything is written; from the first write on,
    # everything (deleting this snapshot's older rows, every range's rows, and the results_runs row that makes
    # them visible) happens in one transaction, so a crash (even kill -9) leaves the previous complete run
    # readable instead of a half-replaced one.
    in_transaction = False
    try:
        with _progress(progress) as bar:
            task = bar.add_task("carecommons run", total=len(steps)) if bar else None
            for label, step in steps:
                name = label.split(" (")[0]
                if name != "evaluate definitions" and not in_transaction:
                    con.execute("BEGIN TRANSACTION")
                    in_transaction = True
                    _delete_previous(con, snap, plan, dates)
                if bar:
                    bar.update(task, description=label)
                t0 = time.perf_counter()
                got = step()
                # evaluation counts add up over ranges; the writers return their table's running total
                counts[name] = counts.get(name, 0) + got if name == "evaluate definitions" else got
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
                if bar:
                    bar.advance(task)
        seconds = time.perf_counter() - started
        _record_run(con, run_id, snap, backend, started_at, dates, versions, plan, seconds, counts)
        con.execute("COMMIT")
        in_transaction = False
    finally:
        if in_transaction:
            con.execute("ROLLBACK")
    for table in (WIDE, AGG_PARTS, "cc_agg"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return RunSummary(
        run_id=run_id,
        snapshot_id=snap,
        backend=backend,
        index_dates=dates,
        definitions=versions,
        population_rows=counts["evaluate definitions"],
        patient_rows=counts["write patient results"],
        aggregate_rows=counts["write aggregates"],
        seconds=seconds,
        timings=timings,
    )


def _record_run(con, run_id, snap, backend, started_at, dates, versions, plan, seconds, counts) -> None:
    con.execute(
        "INSERT INTO results_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            snap,
            backend,
            started_at,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            json.dumps([d.isoformat() for d in dates]),
            json.dumps(versions),
            json.dumps({p.definition_id: p.kind.value for p in plan}),
            seconds,
            counts["evaluate definitions"],
        ],
    )


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress(enabled: bool):
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())


__all__ = ["RunSummary", "run", "snapshot_id", "create_results_tables", "OrgLevel"]
