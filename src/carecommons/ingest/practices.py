"""Loading reference/practices.csv (the org hierarchy) into `practices`, with the same guarantees as feeds.

Every indicator is aggregated practice -> PCN -> borough -> ICB through this table, so a row without
its PCN, borough or ICB would silently drop a practice from every level above it: such rows are
quarantined. Rows replace the earlier version of the same practice, in one transaction with the
manifest row (feed 'reference').
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb

from carecommons.core.errors import CarecommonsError, InvalidInput
from carecommons.core.orgs import ICBS
from carecommons.core.schema import PRACTICES
from carecommons.ingest.csvfiles import csv_source, raw_row_sql, require_columns
from carecommons.ingest.discovery import sha256_file
from carecommons.ingest.sql import FIX_AT_SOURCE, Rule, first_failure, lit
from carecommons.ingest.summary import ExtractResult, FileResult

REQUIRED = ("practice_id", "pcn_id", "borough", "icb")


def load_practices(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> ExtractResult:
    """Load one practices.csv; skipped when the same content is already loaded."""
    t0 = time.perf_counter()
    sha = sha256_file(path)
    load_id = f"reference-practices-{sha[:12]}"
    result = ExtractResult(path=str(path), feed="reference", org=None, extract_date=None, load_id=load_id, status="")
    if con.execute("SELECT 1 FROM load_manifest WHERE load_id = ? LIMIT 1", [load_id]).fetchone():
        result.status, result.note = "skipped", "already loaded (same content); nothing changed"
        result.seconds = time.perf_counter() - t0
        return result
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        received, loaded, quarantined = _stage_and_commit(con, path, name, load_id, sha, started)
    except (CarecommonsError, duckdb.Error) as err:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        if isinstance(err, duckdb.Error):
            err = InvalidInput(name, f"could not be read ({type(err).__name__})", "send a CSV with a header line")
        result.status, result.error = "failed", err
        result.seconds = time.perf_counter() - t0
        return result
    result.files = [FileResult(name, sha, received, loaded, quarantined)]
    result.status = "loaded"
    result.seconds = time.perf_counter() - t0
    return result


def _stage_and_commit(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, load_id: str, sha: str, started: dt.datetime
) -> tuple[int, int, int]:
    cols = PRACTICES.column_names
    require_columns(con, path, name, REQUIRED)
    icbs = ", ".join(lit(k) for k in ICBS)
    rules = [Rule(c, f"NULLIF(trim({c}), '') IS NULL", f"{c} is missing; {FIX_AT_SOURCE}") for c in REQUIRED]
    rules.append(Rule("icb", f"icb NOT IN ({icbs})", f"icb is not one of {', '.join(ICBS)}; {FIX_AT_SOURCE}"))
    rules.append(
        Rule(
            "practice_id",
            "row_number() OVER (PARTITION BY practice_id ORDER BY _line) > 1",
            "duplicate practice_id; send each practice once",
        )
    )
    field_sql, reason_sql = first_failure(rules)
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {csv_source(path)}").fetchall()}
    typed = {
        "list_size": "TRY_CAST(NULLIF(trim(list_size), '') AS INTEGER)",
        "latitude": "TRY_CAST(NULLIF(trim(latitude), '') AS DOUBLE)",
        "longitude": "TRY_CAST(NULLIF(trim(longitude), '') AS DOUBLE)",
    }
    select = ", ".join((typed.get(c, f"NULLIF(trim({c}), '')") if c in present else "NULL") + f" AS {c}" for c in cols)
    raw = raw_row_sql([c for c in cols if c in present])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_practices AS
        SELECT {select}, _line, {field_sql} AS _field, {reason_sql} AS _reason, {raw} AS _raw
        FROM {csv_source(path)}
    """)
    received, loaded = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE _reason IS NULL) FROM _v_practices"
    ).fetchone()
    col_sql = ", ".join(cols)
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "DELETE FROM practices WHERE practice_id IN (SELECT practice_id FROM _v_practices WHERE _reason IS NULL)"
    )
    con.execute(f"INSERT INTO practices SELECT {col_sql} FROM _v_practices WHERE _reason IS NULL")
    con.execute(
        "UPDATE load_manifest SET status = 'superseded' WHERE feed = 'reference' AND source_file = ? "
        "AND status = 'committed'",
        [name],
    )
    con.execute(
        f"INSERT INTO quarantine SELECT {lit(load_id)}, {lit(name)}, _line, 'Practice', _field, _reason, _raw "
        "FROM _v_practices WHERE _reason IS NOT NULL"
    )
    con.execute(
        "INSERT INTO load_manifest VALUES (?, ?, ?, 'reference', NULL, NULL, ?, ?, ?, ?, ?, 'committed')",
        [
            load_id,
            name,
            sha,
            received,
            loaded,
            received - loaded,
            started,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )
    con.execute("COMMIT")
    return int(received), int(loaded), int(received - loaded)
