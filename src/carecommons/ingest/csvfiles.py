"""CSV reading: GP flat extracts and social-care client lists, all text, with true line numbers.

Every column is read as text (all_varchar) so a malformed value reaches validation, where it gets a
reason, instead of failing the whole file in the CSV sniffer. Line numbers count the header as line 1,
so row k of data is line k + 1, which is what a person sees in a text editor or spreadsheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from carecommons.core.errors import InvalidInput
from carecommons.ingest.sql import lit

#: GP CSV file -> (candidate table, {candidate column: CSV column}); see docs/source-formats.md.
GP_FILES: dict[str, tuple[str, dict[str, str]]] = {
    "patients.csv": (
        "patients",
        {
            "pid_ref": "patient_id",
            "nhs_number": "nhs_number",
            "given_name": "given_name",
            "family_name": "family_name",
            "dob_t": "date_of_birth",
            "sex_t": "sex",
            "postcode": "postcode",
            "lsoa": "lsoa",
            "ethnicity_code": "ethnicity_code",
            "dod_t": "date_of_death",
        },
    ),
    "registrations.csv": (
        "registrations",
        {"pid_ref": "patient_id", "practice_t": "practice_id", "start_t": "start_date", "end_t": "end_date"},
    ),
    "events.csv": (
        "events",
        {"pid_ref": "patient_id", "code": "code", "date_t": "date", "value_t": "value", "unit_t": "unit"},
    ),
    "medications.csv": ("medications", {"pid_ref": "patient_id", "code": "dmd_code", "date_t": "date"}),
    "vaccinations.csv": ("vaccinations", {"pid_ref": "patient_id", "code": "code", "date_t": "date"}),
    "encounters.csv": ("encounters", {"pid_ref": "patient_id", "date_t": "date", "encounter_type": "encounter_type"}),
}

#: CSV names used in quarantine rows are the CSV column names themselves.
FIELDS = {"patient_ref": "patient_id", "code": "code", "medications.code": "dmd_code"}

_RESOURCE = {
    "patients": "Patient",
    "registrations": "Registration",
    "events": "Event",
    "medications": "Medication",
    "vaccinations": "Vaccination",
    "encounters": "Encounter",
}


def csv_source(path: Path) -> str:
    """SQL relation over a CSV with every column as text plus `_line` (header = line 1)."""
    return (
        f"(SELECT row_number() OVER () + 1 AS _line, * FROM read_csv({lit(str(path))}, header = true, "
        "all_varchar = true, auto_detect = true, null_padding = true, strict_mode = false, "
        "delim = ',', quote = '\"', escape = '\"'))"
    )


def header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names of a CSV as DuckDB reads them."""
    return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {csv_source(path)}").fetchall()][1:]


def require_columns(con: duckdb.DuckDBPyConnection, path: Path, name: str, needed: Sequence[str]) -> None:
    """A file missing a whole column cannot be judged row by row: refuse the extract with the column named."""
    if path.stat().st_size == 0:
        raise InvalidInput(name, "file is empty (no header line)", "re-send the file with its header line")
    have = set(header(con, path))
    missing = [c for c in needed if c not in have]
    if missing:
        raise InvalidInput(name, f"missing column(s) {missing}", f"send the columns {list(needed)} with a header line")


def raw_row_sql(columns: Sequence[str]) -> str:
    """The row re-joined as CSV text, for the quarantine `raw` column."""
    return "concat_ws(',', " + ", ".join(f"coalesce(\"{c}\", '')" for c in columns) + ")"


def load_gp_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> int:
    """Read one GP CSV into its candidate table; returns received (data rows)."""
    if path.name not in GP_FILES:
        raise InvalidInput(name, "not a GP CSV file Carecommons knows", f"name it one of {sorted(GP_FILES)}")
    table, mapping = GP_FILES[path.name]
    require_columns(con, path, name, list(mapping.values()))
    cols = ", ".join(mapping)
    exprs = ", ".join(f"NULLIF(trim(\"{c}\"), '')" for c in mapping.values())
    before = int(con.execute(f"SELECT count(*) FROM _c_{table}").fetchone()[0])
    con.execute(f"""
        INSERT INTO _c_{table} (_file, _line, _rtype, _raw, _pre_field, _pre_reason, {cols})
        SELECT {lit(name)}, _line, {lit(_RESOURCE[table])}, NULL, NULL, NULL, {exprs}
        FROM {csv_source(path)}
    """)
    return int(con.execute(f"SELECT count(*) FROM _c_{table}").fetchone()[0]) - before
