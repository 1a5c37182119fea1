"""Committing a staged extract: supersede, insert, quarantine and manifest in ONE transaction.

Why one transaction: a load killed at any point (kill -9, power loss) must leave the store as it
was before that load. DuckDB's write-ahead log makes a COMMIT atomic, so either every row of the
extract, its quarantine rows and its manifest rows are there, or none are; re-running the same
command then loads it. Idempotency comes from the content-derived load id: an extract whose load id
is already in the manifest is skipped without touching the store.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import duckdb

from carecommons.core.errors import CarecommonsError, InvalidInput
from carecommons.core.schema import TABLES_BY_NAME
from carecommons.ingest import fhir
from carecommons.ingest.discovery import Extract
from carecommons.ingest.sql import lit
from carecommons.ingest.staging import Staged
from carecommons.ingest.summary import ExtractResult, FileResult

#: Canonical tables each feed owns; a newer extract of the same organisation replaces its rows.
FEED_TABLES: dict[str, tuple[str, ...]] = {
    "gp": ("patients", "registrations", "events", "medications", "vaccinations", "encounters"),
    "social_care": ("social_care_records",),
    "hospital": ("hospital_records",),
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def skip_reason(con: duckdb.DuckDBPyConnection, ex: Extract) -> str | None:
    """Why this extract must not be loaded now (already loaded, or older than what is loaded), else None."""
    row = con.execute("SELECT status FROM load_manifest WHERE load_id = ? LIMIT 1", [ex.load_id]).fetchone()
    if row is not None:
        if row[0] == "committed":
            return "already loaded (same content); nothing changed"
        return "superseded by a newer extract already loaded; nothing changed"
    newer = con.execute(
        "SELECT max(extract_date) FROM load_manifest WHERE feed = ? AND practice_id = ? AND status = 'committed'",
        [ex.feed, ex.org],
    ).fetchone()[0]
    if newer is not None and newer > ex.extract_date:
        return f"older than the loaded extract of {newer.isoformat()}; nothing changed"
    return None


def load_extract(
    con: duckdb.DuckDBPyConnection,
    ex: Extract,
    stage: Callable[[duckdb.DuckDBPyConnection, Extract], Staged],
    commit_lock: AbstractContextManager | None = None,
) -> ExtractResult:
    """Stage, validate and commit one extract; never raises for data problems (they become quarantine).

    `commit_lock` is held only around the commit, so other extracts can be staged on other connections
    meanwhile while canonical-table writes still happen one extract at a time.
    """
    t0 = time.perf_counter()
    result = ExtractResult(
        path=str(ex.directory), feed=ex.feed, org=ex.org, extract_date=ex.extract_date, load_id=ex.load_id, status=""
    )
    reason = skip_reason(con, ex)
    if reason is not None:
        result.status, result.note = "skipped", reason
        result.seconds = time.perf_counter() - t0
        return result
    started = _now()
    try:
        staged = stage(con, ex)
        counts = _account(con, staged)
        _fill_raw(con, staged)
        result.files = [
            FileResult(f.name, f.sha256, staged.received.get(f.name, 0), *counts.get(f.name, (0, 0))) for f in ex.files
        ]
        with commit_lock or nullcontext():
            _commit(con, ex, staged, result.files, started)
    except (CarecommonsError, duckdb.Error) as err:
        _rollback_quietly(con)
        if isinstance(err, duckdb.Error):
            if os.environ.get("CARECOMMONS_DEBUG"):
                raise  # operators debugging on a secure host may see DuckDB's own message
            # DuckDB messages can quote data values, so only the error class is reported.
            err = InvalidInput(
                str(ex.directory),
                f"the extract could not be read ({type(err).__name__})",
                "check that its files match docs/source-formats.md; nothing from it was loaded",
            )
        result.status, result.error, result.files = "failed", err, []
        result.seconds = time.perf_counter() - t0
        return result
    finally:
        drop_staging(con)
    result.status = "loaded"
    result.note = _note(ex, result)
    result.seconds = time.perf_counter() - t0
    return result


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Free the staging temp tables of the last extract (lookups installed once per run are kept)."""
    keep = {"_ref_lsoa", "_ref_eth", "_unit_map", "_hba1c_codes"}
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '_')"
        ).fetchall()
    ]
    for name in names:
        if name not in keep:
            con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def _note(ex: Extract, result: ExtractResult) -> str:
    notes = []
    for f in ex.files:
        got = next((r.received for r in result.files if r.name == f.name), 0)
        if f.declared_rows is not None and f.declared_rows != got:
            notes.append(f"{f.name}: manifest declares {f.declared_rows} rows, {got} received")
    return "; ".join(notes)


def _account(con: duckdb.DuckDBPyConnection, st: Staged) -> dict[str, tuple[int, int]]:
    """Per file (loaded, quarantined), and the check that received = loaded + quarantined.

    The check guards the promise the manifest makes: a row that silently vanished between reading
    and loading is a bug, and loading on regardless would hide it.
    """
    union = " UNION ALL ".join(f"SELECT _file, _reason FROM {t}" for t in st.account)
    rows = con.execute(
        f"SELECT _file, count(*) FILTER (WHERE _reason IS NULL), count(*) FILTER (WHERE _reason IS NOT NULL) "
        f"FROM ({union}) GROUP BY _file"
    ).fetchall()
    counts = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    for name, received in st.received.items():
        loaded, quarantined = counts.get(name, (0, 0))
        if loaded + quarantined != received:
            raise InvalidInput(
                name,
                f"internal accounting error: received {received} but loaded {loaded} + quarantined {quarantined}",
                "report this to the Carecommons maintainers with the extract's manifest; nothing was loaded",
            )
    return counts


def _fill_raw(con: duckdb.DuckDBPyConnection, st: Staged) -> None:
    """Collect quarantined rows into `_q_all` and attach the raw line/entry, re-read only for those files."""
    union = " UNION ALL ".join(
        f"SELECT _file, _line, _rtype, _field, _reason, _raw FROM {t} WHERE _reason IS NOT NULL" for t in st.account
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _q_all AS {union}")
    files = [r[0] for r in con.execute("SELECT DISTINCT _file FROM _q_all WHERE _line IS NOT NULL").fetchall()]
    for name in files:
        if name not in st.raw_kind:
            continue
        kind, path = st.raw_kind[name]
        source = fhir.lines_source(path) if kind == "lines" else fhir.bundle_source(path)
        try:
            con.execute(f"""
                UPDATE _q_all SET _raw = s.text
                FROM (SELECT _line, text FROM {source}) s
                WHERE _q_all._file = {lit(name)} AND _q_all._line = s._line AND _q_all._raw IS NULL
            """)
        except duckdb.Error:
            continue  # an unreadable file keeps raw NULL; its reason already says why


def _commit(
    con: duckdb.DuckDBPyConnection, ex: Extract, st: Staged, files: list[FileResult], started: dt.datetime
) -> None:
    load_id = lit(ex.load_id)
    con.execute("BEGIN TRANSACTION")
    try:
        old_ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT load_id FROM load_manifest WHERE status = 'committed' AND feed = ? AND practice_id = ?",
                [ex.feed, ex.org],
            ).fetchall()
        ]
        if old_ids:  # supersede: the older load's rows go in the same transaction as the new rows arrive
            old = "(" + ", ".join(lit(i) for i in old_ids) + ")"
            for table in FEED_TABLES[ex.feed]:
                con.execute(f"DELETE FROM {table} WHERE load_id IN {old}")
            con.execute(f"DELETE FROM quarantine WHERE load_id IN {old}")
            con.execute(f"UPDATE load_manifest SET status = 'superseded' WHERE load_id IN {old}")
        for table, temp in st.inserts:
            cols = [c for c in TABLES_BY_NAME[table].column_names if c != "load_id"]
            col_sql = ", ".join(cols)
            con.execute(
                f"INSERT INTO {table} ({col_sql}, load_id) SELECT {col_sql}, {load_id} FROM {temp} "
                "WHERE _reason IS NULL"
            )
        con.execute(f"INSERT INTO quarantine SELECT {load_id}, _file, _line, _rtype, _field, _reason, _raw FROM _q_all")
        finished = _now()
        con.executemany(
            "INSERT INTO load_manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'committed')",
            [
                (
                    ex.load_id,
                    f.name,
                    f.sha256,
                    ex.feed,
                    ex.org,
                    ex.extract_date,
                    f.received,
                    f.loaded,
                    f.quarantined,
                    started,
                    finished,
                )
                for f in files
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        _rollback_quietly(con)
        raise


def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass
