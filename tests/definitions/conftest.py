"""Backends for the definitions tests: the reference evaluator, DuckDB, PostgreSQL and Spark (local).

Tiny tables are given as lists of dicts with canonical column names; missing NOT NULL columns get harmless
defaults. PostgreSQL gets a fresh schema per test session, dropped at the end; Spark one local session.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import duckdb
import pytest

from carecommons.core.schema import TABLES_BY_NAME
from carecommons.definitions.reference import evaluate
from carecommons.engine.backends import duckdb_rows, postgres_rows, spark_rows
from carecommons.engine.compiler import compile_plan
from carecommons.store.analytics import create_tables

ENGINE_TABLES = ("patients", "registrations", "events", "medications", "vaccinations")
DEFAULTS = {"load_id": "test", "practice_id": "P1", "sex": "U"}

Tables = dict[str, list[dict[str, Any]]]


def full_rows(table: str, rows: list[dict[str, Any]]) -> list[tuple]:
    cols = TABLES_BY_NAME[table].columns
    return [tuple(r.get(c.name, DEFAULTS.get(c.name)) for c in cols) for r in rows]


def load_duckdb(tables: Tables) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_tables(con)
    for name in ENGINE_TABLES:
        rows = full_rows(name, tables.get(name, []))
        if rows:
            marks = ", ".join("?" for _ in TABLES_BY_NAME[name].columns)
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    return con


def _pg_ddl(table: str) -> str:
    return TABLES_BY_NAME[table].ddl().replace("TINYINT", "SMALLINT").replace(" DOUBLE", " DOUBLE PRECISION")


def load_postgres(conn, tables: Tables) -> None:
    with conn.cursor() as cur:
        for name in ENGINE_TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {name}")
            cur.execute(_pg_ddl(name))
            cols = [c.name for c in TABLES_BY_NAME[name].columns]
            with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in full_rows(name, tables.get(name, [])):
                    copy.write_row(row)


def normalise(rows: list[dict[str, Any]]) -> dict[tuple[int, dt.date], dict[str, Any]]:
    """Key rows by (patient, index date) and make numbers comparable across engines (Decimal, numpy, int)."""
    out = {}
    for r in rows:
        clean = {}
        for k, v in r.items():
            if isinstance(v, dt.datetime):
                v = v.date()
            elif v is not None and not isinstance(v, (str, dt.date)):
                v = float(v)
            clean[k] = v
        out[(int(r["patient_id"]), clean["index_date"])] = clean
    return out


@pytest.fixture(scope="session")
def spark():
    from carecommons.engine.spark import session

    return session("local[1]")


@pytest.fixture(scope="session")
def pg_conn():
    psycopg = pytest.importorskip("psycopg")
    conn = psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True)
    schema = f"cc_defs_{uuid.uuid4().hex[:10]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path TO {schema}")
    yield conn
    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


Runner = Callable[..., dict]


@pytest.fixture(scope="session")
def run_on(request, tmp_path_factory) -> Callable[[str], Runner]:
    """run_on(backend)(tables, codelists, plan, index_dates[, strategy]) -> rows keyed by (patient_id, index_date);
    `strategy` is the compiler's (auto, series, buckets)."""

    def for_backend(backend: str) -> Runner:
        def run(tables, codelists, plan, dates, strategy="auto"):
            if backend == "reference":
                return normalise(evaluate(tables, codelists, plan, dates))
            if backend == "duckdb":
                con = load_duckdb(tables)
                return normalise(duckdb_rows(con, compile_plan(plan, codelists, dates, "duckdb", strategy)))
            if backend == "postgres":
                conn = request.getfixturevalue("pg_conn")
                load_postgres(conn, tables)
                return normalise(postgres_rows(conn, compile_plan(plan, codelists, dates, "postgres", strategy)))
            if backend == "spark":
                from carecommons.engine.spark import register_from_duckdb

                session = request.getfixturevalue("spark")
                con = load_duckdb(tables)
                register_from_duckdb(session, con, tmp_path_factory.mktemp("spark"), ENGINE_TABLES)
                return normalise(spark_rows(session, compile_plan(plan, codelists, dates, "spark", strategy)))
            raise ValueError(backend)

        return run

    return for_backend
