"""Standardise identifying columns from the record store into linkage inputs.

Both Splink backends read the same Parquet files written here, so DuckDB and Spark see identical inputs and
a run can be repeated on Spark without touching the store. Names are cleaned in Python once per distinct
spelling (a few hundred thousand at London scale, not 12 million rows) and joined back in SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from carecommons.identity.names import canonical_given, clean_name, soundex

#: Feeds linked to GP patients: feed name -> store table.
FEEDS: dict[str, str] = {"social_care": "social_care_records", "hospital": "hospital_records"}
#: The date that makes one row of a record id the newest (a trust record id recurs on every discharge).
_RECENCY: dict[str, str] = {"social_care": "start_date", "hospital": "discharge_date"}

#: Columns of a prepared linkage input, in order.
PREPARED_COLUMNS = (
    "unique_id",
    "feed",
    "record_id",
    "nhs_number",
    "nhs_valid",
    "given_name",
    "given_canon",
    "given_sx",
    "family_name",
    "family_sx",
    "dob",
    "yob",
    "sex",
    "postcode",
    "pc_sector",
    "pc_district",
)


def sql_path(path: Path) -> str:
    """A file path as a SQL string literal (COPY and views cannot take bound parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _source_sql(feed: str, where: str = "") -> str:
    """Raw identifying columns of one feed with a text unique id (GP ids are BIGINT in the store).

    A feed record id can recur (a hospital number on each discharge): one row per id is kept, preferring
    one with an NHS number, then the newest, so the person index has exactly one row per record id.
    """
    if feed == "gp":
        return (
            "SELECT CAST(patient_id AS VARCHAR) AS unique_id, 'gp' AS feed, CAST(patient_id AS VARCHAR) AS record_id, "
            "nhs_number, given_name, family_name, "
            f"date_of_birth, sex, postcode FROM patients {where}"
        )
    table = FEEDS[feed]
    return (
        f"SELECT '{feed}:' || record_id AS unique_id, '{feed}' AS feed, record_id, nhs_number, given_name, "
        "family_name, date_of_birth, "
        f"sex, postcode FROM {table} {where} QUALIFY row_number() OVER (PARTITION BY record_id "
        f"ORDER BY nhs_number IS NULL, {_RECENCY[feed]} DESC NULLS LAST, nhs_number, given_name, family_name, "
        "date_of_birth, postcode) = 1"
    )


def _lookup_from(raws: list[str]) -> pa.Table:
    """raw spelling -> (clean, canonical given, soundex) as an Arrow table to join in SQL."""
    cleaned = [clean_name(r) for r in raws]
    return pa.table(
        {
            "raw": pa.array(raws, type=pa.string()),
            "clean": pa.array(cleaned, type=pa.string()),
            "canon": pa.array([canonical_given(c) for c in cleaned], type=pa.string()),
            "sx": pa.array([soundex(c) for c in cleaned], type=pa.string()),
        }
    )


def _name_lookup(con: duckdb.DuckDBPyConnection, raw_sql: str, params: dict | None = None) -> pa.Table:
    """The lookup for every distinct given or family spelling that `raw_sql` returns."""
    rows = con.execute(
        f"SELECT DISTINCT n FROM (SELECT given_name AS n FROM ({raw_sql}) UNION SELECT family_name FROM ({raw_sql})) "
        "WHERE n IS NOT NULL",
        params or {},
    ).fetchall()
    return _lookup_from([r[0] for r in rows])


def standardise_sql(raw_sql: str, names_view: str) -> str:
    """SQL turning raw identifying columns into the prepared linkage columns (see PREPARED_COLUMNS).

    NHS numbers keep any ten-digit value, valid or not (a typo is evidence for Splink); `nhs_valid` marks the
    ones that pass Modulus 11 so the deterministic step uses only those. Postcodes are re-spaced so that
    "SE154LT" and "SE15 4LT" agree, and cut into sector and district for partial agreement.
    """
    from carecommons.core.nhs_number import sql_is_valid

    return f"""
    WITH raw AS ({raw_sql}),
    base AS (
      SELECT raw.unique_id, raw.feed, raw.record_id,
        CASE WHEN length(regexp_replace(coalesce(raw.nhs_number, ''), '[^0-9]', '', 'g')) = 10
             THEN regexp_replace(raw.nhs_number, '[^0-9]', '', 'g') END AS nhs_number,
        g.clean AS given_name, g.canon AS given_canon, g.sx AS given_sx,
        f.clean AS family_name, f.sx AS family_sx,
        strftime(raw.date_of_birth, '%Y-%m-%d') AS dob,
        CAST(year(raw.date_of_birth) AS VARCHAR) AS yob,
        CASE WHEN upper(raw.sex) IN ('F', 'M') THEN upper(raw.sex) END AS sex,
        nullif(upper(regexp_replace(coalesce(raw.postcode, ''), '[^A-Za-z0-9]', '', 'g')), '') AS pc
      FROM raw
      LEFT JOIN {names_view} g ON g.raw = raw.given_name
      LEFT JOIN {names_view} f ON f.raw = raw.family_name
    )
    SELECT unique_id, feed, record_id, nhs_number, coalesce({sql_is_valid("nhs_number")}, FALSE) AS nhs_valid,
      given_name, given_canon, given_sx, family_name, family_sx, dob, yob, sex,
      CASE WHEN length(pc) BETWEEN 5 AND 7 THEN substr(pc, 1, length(pc) - 3) || ' ' || right(pc, 3) END AS postcode,
      CASE WHEN length(pc) BETWEEN 5 AND 7 THEN substr(pc, 1, length(pc) - 3) || ' ' || substr(right(pc, 3), 1, 1) END
        AS pc_sector,
      CASE WHEN length(pc) BETWEEN 5 AND 7 THEN substr(pc, 1, length(pc) - 3) END AS pc_district
    FROM base
    """


def prepare_inputs(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    feeds: tuple[str, ...] = ("social_care", "hospital"),
) -> dict[str, Path]:
    """Write prepared `gp.parquet` and `feeds.parquet` (all non-GP feeds together) into `out_dir`.

    One non-GP file rather than one per feed: each record needs only its best GP match, and a single
    Splink link job halves the GP-side blocking work compared with one job per feed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    feed_sql = " UNION ALL ".join(_source_sql(f) for f in feeds)
    lookup = _name_lookup(con, f"{_source_sql('gp')} UNION ALL {feed_sql}")
    con.register("_identity_names", lookup)
    try:
        out = {}
        for name, raw in (("gp", _source_sql("gp")), ("feeds", feed_sql)):
            path = out_dir / f"{name}.parquet"
            con.execute(f"COPY ({standardise_sql(raw, '_identity_names')}) TO {sql_path(path)} (FORMAT parquet)")
            out[name] = path
        return out
    finally:
        con.unregister("_identity_names")


def prepare_records(con: duckdb.DuckDBPyConnection, feed: str, ids: list[str]) -> list[dict]:
    """Prepared rows for a few named records (the explain path); ids are bound, never spliced into SQL."""
    where = "WHERE CAST(patient_id AS VARCHAR) = ANY($ids)" if feed == "gp" else "WHERE record_id = ANY($ids)"
    raw = _source_sql(feed, where)
    lookup = _name_lookup(con, raw, {"ids": ids})
    con.register("_identity_names_one", lookup)
    try:
        rel = con.execute(standardise_sql(raw, "_identity_names_one"), {"ids": ids})
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.unregister("_identity_names_one")
