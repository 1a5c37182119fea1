"""SNOMED CT / dm+d id checks over the distinct codes of an extract.

An extract of a million events uses a few thousand distinct codes, so the Verhoeff check runs once per
distinct code (reference.codelists.is_snomed_id) and the rows join against the result: exact, and far
cheaper than a per-row SQL loop over digits. Offline, "unknown" can only mean malformed: 6-18 digits,
no leading zero, Verhoeff-valid. Whether a well-formed id exists in the current UK release needs the
release files, which the platform does not ship.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from carecommons.reference.codelists import is_snomed_id


def build_code_check(con: duckdb.DuckDBPyConnection, sources: Sequence[tuple[str, str]]) -> None:
    """Create temp table `_code_ok(code, ok)` for the distinct codes in `sources` [(table, column)].

    dm+d ids are SNOMED CT ids in the UK extension namespace, so the same check covers them.
    """
    if not sources:
        con.execute("CREATE OR REPLACE TEMP TABLE _code_ok (code VARCHAR, ok BOOLEAN)")
        return
    union = " UNION ".join(
        f"SELECT DISTINCT {col} AS code FROM {table} WHERE {col} IS NOT NULL" for table, col in sources
    )
    codes = [r[0] for r in con.execute(union).fetchall()]
    if not codes:
        con.execute("CREATE OR REPLACE TEMP TABLE _code_ok (code VARCHAR, ok BOOLEAN)")
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _code_ok AS SELECT unnest($codes) AS code, unnest($ok) AS ok",
        {"codes": codes, "ok": [is_snomed_id(c) for c in codes]},
    )
