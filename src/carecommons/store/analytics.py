"""The analytics record store: one DuckDB file holding the canonical tables (core.schema)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from carecommons.core.schema import ALL_TABLES


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store and make sure every canonical table exists.

    Read-only opens skip DDL so several readers (web workers) can share the file.
    """
    p = Path(path)
    if not read_only:
        p.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(p), read_only=read_only)
    if not read_only:
        create_tables(con)
    return con


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in ALL_TABLES:
        con.execute(table.ddl())
