"""The analytics record store: one DuckDB file holding the canonical tables (core.schema).

DuckDB is the default backend because one file gives transactions (ingest relies on them for
crash safety), out-of-core queries and zero set-up. Parquet is the exchange format: `export_parquet`
writes every canonical table as Parquet so Spark (or anything else) can read the same data.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from carecommons.core.errors import ConfigurationError, InvalidInput
from carecommons.core.schema import ALL_TABLES, TABLES_BY_NAME


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store and make sure every canonical table exists.

    Read-only opens skip DDL so several readers (web workers) can share the file. A store that
    another process holds open for writing is reported as a ConfigurationError with a fix,
    rather than DuckDB's lock message.
    """
    p = Path(path)
    if read_only and not p.exists():
        raise ConfigurationError(str(p), "the record store does not exist", "run `carecommons ingest` first")
    if not read_only:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise ConfigurationError(
                str(p),
                "the record store is open for writing in another process",
                "wait for the running ingest to finish, or stop it, then retry",
            ) from err
        raise
    limit_memory(con)
    if not read_only:
        create_tables(con)
    return con


#: Environment variable overriding the DuckDB memory limit, in DuckDB's own syntax ("8GB", "512MiB").
MEMORY_ENV = "CARECOMMONS_DUCKDB_MEMORY"


def default_memory_limit() -> str:
    """Half the machine's memory. DuckDB's own default (80%) leaves too little for Python, the web workers and
    the operational database beside it: a 1 M patient run over 24 month ends was killed by the kernel's
    OOM killer at 20 GiB on a 24 GiB machine. Under a limit DuckDB spills to `<store>.tmp` instead."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GiB"
    return f"{max(1, total // 2 // (1 << 20))}MiB"


def limit_memory(con: duckdb.DuckDBPyConnection, limit: str | None = None) -> None:
    """Apply `limit`, else CARECOMMONS_DUCKDB_MEMORY, else half the machine: what every store connection gets
    (benchmarks opening DuckDB files directly call it too, so they measure under the platform's limit)."""
    source = "memory limit" if limit else MEMORY_ENV
    limit = limit or os.environ.get(MEMORY_ENV) or default_memory_limit()
    try:
        con.execute(f"SET memory_limit = '{_sql_str(limit)}'")
    except duckdb.Error as err:
        con.close()
        raise InvalidInput(
            source, f"{limit!r} is not a memory size DuckDB understands", "use a size such as 8GB or 512MiB"
        ) from err


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical table that does not exist yet (idempotent)."""
    for table in ALL_TABLES:
        con.execute(table.ddl())


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every canonical table, for summaries and health checks."""
    return {t.name: int(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]) for t in ALL_TABLES}


def export_parquet(con: duckdb.DuckDBPyConnection, out_dir: Path, tables: list[str] | None = None) -> list[Path]:
    """Write canonical tables as `<out_dir>/<table>.parquet` (zstd) so Spark reads exactly what DuckDB holds.

    Rows are written in a stable order (all columns) so two exports of the same store are byte-comparable
    in content, which the Spark parity tests rely on.
    """
    names = tables or [t.name for t in ALL_TABLES]
    unknown = [n for n in names if n not in TABLES_BY_NAME]
    if unknown:
        raise InvalidInput("tables", f"unknown table(s) {unknown}", f"choose from {sorted(TABLES_BY_NAME)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = out_dir / f"{name}.parquet"
        cols = ", ".join(TABLES_BY_NAME[name].column_names)
        con.execute(
            f"COPY (SELECT * FROM {name} ORDER BY {cols}) TO '{_sql_str(str(target))}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        written.append(target)
    return written


def _sql_str(text: str) -> str:
    """Escape a string for a single-quoted SQL literal (paths only; never patient values)."""
    return text.replace("'", "''")
