"""Staging: turning one extract's files into validated temp tables, ready for one transaction.

Nothing here writes a canonical table. Staging only builds TEMP tables (gone if the process dies),
so a crash at any point during staging leaves the store exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from carecommons.core.errors import InvalidInput
from carecommons.ingest import csvfiles, fhir, validate_gp
from carecommons.ingest.discovery import Extract


@dataclass
class Staged:
    """What the loader needs: per-file received counts, where every received row ended up, what to insert.

    `account` lists temp tables with one row per received row (columns _file, _line, _rtype, _field,
    _reason, _raw; _reason NULL = loaded). `inserts` are (canonical table, temp table) pairs whose
    rows with NULL _reason are inserted. `raw_kind` says how to re-read the raw text of a quarantined
    row: 'lines' (physical line) or 'bundle' (entry).
    """

    received: dict[str, int] = field(default_factory=dict)
    account: list[str] = field(default_factory=list)
    inserts: list[tuple[str, str]] = field(default_factory=list)
    raw_kind: dict[str, tuple[str, Path]] = field(default_factory=dict)


def stage_gp(con: duckdb.DuckDBPyConnection, ex: Extract) -> Staged:
    """Read every file of a GP extract (FHIR NDJSON, FHIR Bundles or CSV) and validate it."""
    validate_gp.create_candidates(con)
    st = Staged()
    for f in ex.files:
        suffix = f.path.suffix.lower()
        if suffix == ".ndjson":
            st.received[f.name] = fhir.load_ndjson(con, f.path, f.name, f.path.stem, f.physical_lines)
            st.raw_kind[f.name] = ("lines", f.path)
        elif suffix == ".json":
            st.received[f.name] = fhir.load_bundle(con, f.path, f.name)
            st.raw_kind[f.name] = ("bundle", f.path)
        elif suffix == ".csv":
            st.received[f.name] = csvfiles.load_gp_csv(con, f.path, f.name)
            st.raw_kind[f.name] = ("lines", f.path)
        else:
            raise InvalidInput(
                f.name, "file type not recognised in a GP extract", "send .ndjson, Bundle .json or .csv files"
            )
    fields = fhir.FIELDS if ex.system == "fhir" else csvfiles.FIELDS
    validate_gp.validate(con, ex.org, ex.extract_date, fields)
    st.account = [f"_v_{t}" for t in validate_gp.GP_TABLES] + ["_q_pre"]
    st.inserts = [(t, f"_v_{t}") for t in validate_gp.GP_TABLES]
    return st
