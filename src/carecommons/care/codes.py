"""Codelists as a DuckDB temp table, so worklist and record SQL join on codes instead of inlining them.

Parsing a codelist file is cheap but not free (the cancer list has ~7,000 codes); a process-wide cache
keeps page loads fast. The temp table is per connection, keyed by codelist id, and only gains lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import duckdb

from carecommons.reference.codelists import Codelist, shipped

CODES_TABLE = "_care_codes"


@lru_cache(maxsize=128)
def codelist(name: str) -> Codelist:
    """A shipped codelist by file stem, parsed once per process."""
    return shipped(name)


def ensure_codes(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> str:
    """Make sure every named codelist is in the connection's temp code table; return the table name."""
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {CODES_TABLE} (list_id VARCHAR, code VARCHAR)")
    wanted = sorted(set(names))
    if not wanted:
        return CODES_TABLE
    present = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT list_id FROM {CODES_TABLE} WHERE list_contains($names, list_id)", {"names": wanted}
        ).fetchall()
    }
    rows = [(name, code) for name in wanted if name not in present for code in sorted(codelist(name).codes)]
    if rows:
        # Typed list parameters, not con.register of an Arrow table: registering raised DuckDB's
        # "python_arrow_scan does not exist" under concurrent web requests (reliability finding 5).
        con.execute(
            f"INSERT INTO {CODES_TABLE} SELECT UNNEST($lists::VARCHAR[]), UNNEST($codes::VARCHAR[])",
            {"lists": [r[0] for r in rows], "codes": [r[1] for r in rows]},
        )
    return CODES_TABLE
