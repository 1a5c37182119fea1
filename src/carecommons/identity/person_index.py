"""The person index: one person_id per real person, across GP, social-care and hospital records.

Every GP patient record and every feed record has exactly one row, saying which person it belongs to, how
that was decided (method), how sure the model was, and which linkage run decided it. Other layers resolve
a person's linked record through `records_for_person`; the explain page starts from `person_for_record`.

person_id is the smallest GP patient_id of the person (stable across runs while that record exists). Feed
records that match no GP patient get a negative person_id, unique within the run only.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.core.schema import Column, Table

METHODS = ("gp_record", "nhs_number", "probabilistic", "unlinked")

PERSON_INDEX = Table(
    name="person_index",
    doc="One row per GP patient / social-care / hospital record, mapping it to one person.",
    columns=(
        Column("person_id", "BIGINT", False, "smallest GP patient_id of the person; negative if no GP record"),
        Column("feed", "VARCHAR", False, "gp, social_care or hospital"),
        Column("record_id", "VARCHAR", False, "patient_id as text for gp, else the feed record_id"),
        Column("patient_id", "BIGINT", True, "the GP patient this record is linked to; NULL if unlinked"),
        Column("method", "VARCHAR", False, "gp_record, nhs_number, probabilistic or unlinked"),
        Column("match_probability", "DOUBLE", True, "Splink probability of the best GP candidate"),
        Column("match_weight", "DOUBLE", True, "Splink match weight (log2 Bayes factor) of the best candidate"),
        Column("run_id", "VARCHAR", False),
    ),
)

LINKAGE_RUNS = Table(
    name="linkage_runs",
    doc="One row per linkage run: settings, the trained Splink model (for explanations) and counts.",
    columns=(
        Column("run_id", "VARCHAR", False),
        Column("started_at", "TIMESTAMP", False),
        Column("finished_at", "TIMESTAMP"),
        Column("backend", "VARCHAR", False),
        Column("threshold", "DOUBLE", False, "minimum match probability for a probabilistic link"),
        Column("model_json", "VARCHAR", True, "Splink model (settings, m and u); no patient values"),
        Column("summary_json", "VARCHAR", True, "linked counts per feed and method, timings"),
    ),
)


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create person_index and linkage_runs if missing (identity owns them; they are not ingest tables)."""
    con.execute(PERSON_INDEX.ddl())
    con.execute(LINKAGE_RUNS.ddl())


@dataclass(frozen=True)
class IndexEntry:
    person_id: int
    feed: str
    record_id: str
    patient_id: int | None
    method: str
    match_probability: float | None
    match_weight: float | None
    run_id: str


def _entries(rows: list[tuple]) -> list[IndexEntry]:
    return [IndexEntry(*row) for row in rows]


def person_for_record(con: duckdb.DuckDBPyConnection, record_id: str, feed: str | None = None) -> IndexEntry:
    """The index row of one record; `feed` disambiguates when a GP id and a feed id coincide."""
    cols = ", ".join(PERSON_INDEX.column_names)
    if feed is None:
        rows = con.execute(f"SELECT {cols} FROM person_index WHERE record_id = $1", [record_id]).fetchall()
    else:
        rows = con.execute(
            f"SELECT {cols} FROM person_index WHERE record_id = $1 AND feed = $2", [record_id, feed]
        ).fetchall()
    if not rows:
        raise NotFound("record_id", "no such record in the person index", "run `carecommons link` after loading feeds")
    if len(rows) > 1:
        raise InvalidInput("record_id", "the id exists in more than one feed", "name the feed as well")
    return _entries(rows)[0]


def records_for_person(con: duckdb.DuckDBPyConnection, person_id: int) -> list[IndexEntry]:
    """Every record of one person, GP first, for the linked patient record page."""
    cols = ", ".join(PERSON_INDEX.column_names)
    rows = con.execute(
        f"SELECT {cols} FROM person_index WHERE person_id = $1 "
        "ORDER BY CASE feed WHEN 'gp' THEN 0 ELSE 1 END, feed, record_id",
        [person_id],
    ).fetchall()
    return _entries(rows)


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Rows per feed and method in the current index, for the CLI summary and data-quality pages."""
    out: dict[str, dict[str, int]] = {}
    for feed, method, n in con.execute(
        "SELECT feed, method, count(*) FROM person_index GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        out.setdefault(feed, {})[method] = n
    return out
