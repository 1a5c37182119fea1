"""Small SQL builders shared by the adapters: literals, date parsing, patient keys, first-failing rule.

Validation runs as SQL over whole files (one CASE per row, evaluated vectorised by DuckDB), never as a
Python loop per resource; these helpers keep that SQL readable and identical across feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Reasons start with the problem and end with the fix; they never contain the offending value.
FIX_AT_SOURCE = "correct it in the source system and re-send the extract"


def lit(text: str | None) -> str:
    """A single-quoted SQL literal (for paths, ids and reasons; never for patient values)."""
    if text is None:
        return "NULL"
    return "'" + text.replace("'", "''") + "'"


def full_date(col: str) -> str:
    """DATE from an ISO date or dateTime string; NULL unless it starts with a real YYYY-MM-DD date.

    Partial FHIR dates (2024, 2024-03) are not accepted: every canonical date column is a full date.
    """
    # Fixed positions instead of a regex: cheaper per row, and TRY_CAST rejects non-digits and 2024-02-30.
    return (
        f"(CASE WHEN length({col}) >= 10 AND substr({col}, 5, 1) = '-' AND substr({col}, 8, 1) = '-' "
        f"AND (length({col}) = 10 OR substr({col}, 11, 1) = 'T') "
        f"THEN TRY_CAST(substr({col}, 1, 10) AS DATE) END)"
    )


def blank_to_null(col: str) -> str:
    """Empty or whitespace-only text counts as missing (CSV writes missing as an empty field)."""
    return f"NULLIF(trim({col}), '')"


def patient_key(ref: str, org: str) -> str:
    """BIGINT patient id from a FHIR id/reference or CSV id.

    Decimal ids (the platform's own, see docs/source-formats.md) are used as they are. Any other id
    (a UUID from a transaction Bundle, a supplier's alphanumeric id) gets a stable 63-bit key from
    MD5 of "<org>|<id>": stable across runs and machines, and scoped to the sending organisation so
    two suppliers' "123abc" never merge.
    """
    r = f"regexp_replace({ref}, '^(Patient/|urn:uuid:)', '')"
    return (
        f"(CASE WHEN {ref} IS NULL OR trim({ref}) = '' THEN NULL "
        f"WHEN regexp_full_match({r}, '[0-9]{{1,18}}') THEN CAST({r} AS BIGINT) "
        f"ELSE CAST(md5_number({lit(org)} || '|' || {r}) >> 65 AS BIGINT) END)"
    )


@dataclass(frozen=True)
class Rule:
    """One validation rule: `bad` is SQL that is TRUE when the row fails; the first failing rule wins.

    `reason` is a plain sentence; `reason_sql`, when given, is an SQL expression for reasons that point
    at another row (e.g. 'duplicate of line 12'), still never at a patient value.
    """

    field: str
    bad: str
    reason: str
    reason_sql: str | None = None


def first_failure(rules: Sequence[Rule]) -> tuple[str, str]:
    """SQL for (_field, _reason): NULL, NULL when every rule passes."""
    if not rules:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    field_sql = "CASE " + " ".join(f"WHEN coalesce({r.bad}, FALSE) THEN {lit(r.field)}" for r in rules) + " END"
    reason_sql = (
        "CASE "
        + " ".join(f"WHEN coalesce({r.bad}, FALSE) THEN {r.reason_sql or lit(r.reason)}" for r in rules)
        + " END"
    )
    return field_sql, reason_sql
