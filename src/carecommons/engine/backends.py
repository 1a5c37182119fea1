"""Executing a compiled plan on DuckDB, PostgreSQL or Spark, each returning rows of the same output contract.

Each backend loads the small codelist lookup table (compiler.CODES_TABLE) next to the canonical tables and
runs the one query. DuckDB is the record store; PostgreSQL and Spark run the same SQL (transpiled) so one
definition gives identical answers on all three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from carecommons.core.errors import InvalidInput
from carecommons.engine.compiler import CODES_TABLE, Compiled

CODES_SCHEMA = pa.schema([("src", pa.int32()), ("tbl", pa.string()), ("code", pa.string())])


def codes_arrow(compiled: Compiled) -> pa.Table:
    srcs, tbls, codes = zip(*compiled.code_rows, strict=True) if compiled.code_rows else ((), (), ())
    return pa.table({"src": list(srcs), "tbl": list(tbls), "code": list(codes)}, schema=CODES_SCHEMA)


def duckdb_load_codes(con, compiled: Compiled) -> None:
    """(Re)create the lookup as a TEMP table so concurrent runs on other connections never collide."""
    codes = codes_arrow(compiled)  # noqa: F841 - read by DuckDB's replacement scan below
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CODES_TABLE} AS SELECT * FROM codes")


def _statements(compiled: Compiled, ranges: Sequence[tuple[int, int]] | None) -> list[str]:
    """The SQL to run, one statement per patient range of a partitioned plan (the whole plan otherwise)."""
    if not compiled.partitioned:
        if ranges is not None:
            raise InvalidInput("patient ranges", "given for a plan compiled without them", "compile partitioned=True")
        return [compiled.sql]
    if not ranges:
        raise InvalidInput("patient ranges", "none given for a partitioned plan", "use partition.patient_ranges")
    return [compiled.for_patients(lo, hi) for lo, hi in ranges]


def duckdb_materialise(
    con,
    compiled: Compiled,
    table: str,
    ranges: Sequence[tuple[int, int]] | None = None,
    on_range: Callable[[int, int], None] | None = None,
    wrap: Callable[[str], str] | None = None,
) -> int:
    """Run the plan into TEMP table `table` in the DuckDB store; returns its row count.

    A partitioned plan runs once per patient range in `ranges`, each appending its rows: the hash tables of a
    range hold only its patients, so memory stays bounded and (on a store clustered by patient) each range
    reads only its row groups. `on_range(done, total)` is called after each range (a progress bar). `wrap`
    turns each statement into the query actually stored (engine.stored.stored_query: a run's compact rows)."""
    if compiled.dialect != "duckdb":
        raise ValueError("compiled for another dialect")
    statements = [wrap(s) if wrap else s for s in _statements(compiled, ranges)]
    duckdb_load_codes(con, compiled)
    # The result is a set of rows keyed by (patient, index date): keeping scan order would only force DuckDB
    # to serialise the big aggregations' output. The caller's setting is restored afterwards.
    keep = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("SET preserve_insertion_order = false")
    try:
        for i, sql in enumerate(statements):
            if i == 0:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
            else:
                con.execute(f"INSERT INTO {table} {sql}")
            if on_range:
                on_range(i + 1, len(statements))
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if keep else 'false'}")
    return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def duckdb_rows(con, compiled: Compiled, ranges: Sequence[tuple[int, int]] | None = None) -> list[dict]:
    """The plan's rows as dicts (tests and small stores); a partitioned plan runs once per range in `ranges`."""
    duckdb_load_codes(con, compiled)
    out: list[dict] = []
    for sql in _statements(compiled, ranges):
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        out += [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return out


def postgres_rows(conn, compiled: Compiled) -> list[dict]:
    """Run on a psycopg connection whose search_path already points at the canonical tables."""
    if compiled.dialect != "postgres":
        raise ValueError("compiled for another dialect")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {CODES_TABLE} (src INTEGER, tbl VARCHAR, code VARCHAR)")
        cur.execute(f"TRUNCATE {CODES_TABLE}")
        with cur.copy(f"COPY {CODES_TABLE} (src, tbl, code) FROM STDIN") as copy:
            for row in compiled.code_rows:
                copy.write_row(row)
        cur.execute(compiled.sql)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def spark_register_codes(spark, compiled: Compiled) -> None:
    df = spark.createDataFrame(compiled.code_rows or [], schema="src INT, tbl STRING, code STRING")
    df.createOrReplaceTempView(CODES_TABLE)


def spark_dataframe(spark, compiled: Compiled):
    """A Spark DataFrame of the plan's output; the canonical tables must be registered as views."""
    if compiled.dialect != "spark":
        raise ValueError("compiled for another dialect")
    spark_register_codes(spark, compiled)
    return spark.sql(compiled.sql)


def spark_rows(spark, compiled: Compiled) -> list[dict]:
    return [r.asDict() for r in spark_dataframe(spark, compiled).collect()]
