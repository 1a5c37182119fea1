"""Reading the canonical record store for risk scores: the population on an index date and per-patient code features.

Every score needs the same few facts per patient and codelist (is there a code, when was the latest, what value did
it carry, how many, how spread). One grouped scan of `events` and one of `medications`, joined to a temp table of
(feature, code, window start), produces all of them at once, so a score over 1 M patients reads each table once
instead of once per codelist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import pandas as pd
import pyarrow as pa

from carecommons.core.dates import months_back, parse_date
from carecommons.core.errors import InvalidInput

POP_TABLE = "_risk_population"
CODES_TABLE = "_risk_feature_codes"


@dataclass(frozen=True)
class Feature:
    """A named codelist read from one table within a look-back window (None = ever, up to the index date)."""

    name: str
    codes: frozenset[str]
    table: Literal["events", "medications"] = "events"
    months: int | None = None


def check_index_date(index_date: dt.date | str) -> dt.date:
    """An index date from a date or ISO text, rejecting anything else with the input named."""
    if isinstance(index_date, str):
        return parse_date(index_date, "index_date")
    if not isinstance(index_date, dt.date):
        raise InvalidInput("index_date", f"{type(index_date).__name__} is not a date", "pass a datetime.date")
    return index_date


def population(
    con: duckdb.DuckDBPyConnection,
    index_date: dt.date,
    min_age: int = 0,
    max_age: int | None = None,
    patient_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Patients alive and registered on the index date, aged min_age..max_age in completed years.

    `patient_ids` restricts it to named patients (one record open in a consultation) so direct-care callers do not
    compute a whole population. Also left in the connection as the temp table `_risk_population`, which the
    feature scans join to.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {POP_TABLE} AS
        WITH base AS (
          SELECT p.patient_id, p.sex, p.practice_id, p.ethnicity_code, p.ethnicity_16, p.imd_decile,
                 CAST(date_part('year', $d) - date_part('year', p.date_of_birth)
                      - CASE WHEN strftime($d, '%m%d') < strftime(p.date_of_birth, '%m%d') THEN 1 ELSE 0 END
                      AS INTEGER) AS age
          FROM patients p
          WHERE p.date_of_birth <= $d AND (p.date_of_death IS NULL OR p.date_of_death > $d)
            AND EXISTS (SELECT 1 FROM registrations r WHERE r.patient_id = p.patient_id
                        AND r.start_date <= $d AND (r.end_date IS NULL OR r.end_date >= $d))
        )
        SELECT * FROM base WHERE age >= $min_age AND ($max_age IS NULL OR age <= $max_age)
          AND ($ids IS NULL OR list_contains($ids, patient_id))
        """,
        {
            "d": index_date,
            "min_age": min_age,
            "max_age": max_age,
            "ids": None if patient_ids is None else [int(i) for i in patient_ids],
        },
    )
    return con.execute(f"SELECT * FROM {POP_TABLE} ORDER BY patient_id").df()


def load_codes(con: duckdb.DuckDBPyConnection, index_date: dt.date, features: Iterable[Feature]) -> None:
    """(Re)create the temp table of (feature, code, source table, window start) the scans join to."""
    names, codes, tables, starts = [], [], [], []
    for f in features:
        start = None if f.months is None else months_back(index_date, f.months)
        for code in sorted(f.codes):
            names.append(f.name)
            codes.append(code)
            tables.append(f.table)
            starts.append(start)
    batch = pa.table(
        {
            "feature": pa.array(names, pa.string()),
            "code": pa.array(codes, pa.string()),
            "source": pa.array(tables, pa.string()),
            "start_date": pa.array(starts, pa.date32()),
        }
    )
    con.register("_risk_codes_batch", batch)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CODES_TABLE} AS SELECT * FROM _risk_codes_batch")
    finally:
        con.unregister("_risk_codes_batch")


def features(con: duckdb.DuckDBPyConnection, index_date: dt.date, wanted: Iterable[Feature]) -> pd.DataFrame:
    """Per patient of the current population and feature: n, first/last date, last value, value sd, n_values.

    The last value is the lowest of the latest day's values (as QOF reads several readings on one day), so it is
    deterministic however the rows are stored.

    Long format (patient_id, feature, ...); one row only where the patient has at least one matching record in
    the window (strictly after the window start, on or before the index date). Call `population` first.
    """
    wanted = list(wanted)
    names = [f.name for f in wanted]
    if len(set(names)) != len(names):
        raise InvalidInput("features", "two features share a name", "give each feature its own name")
    load_codes(con, index_date, wanted)
    parts = []
    for table in ("events", "medications"):
        if not any(f.table == table for f in wanted):
            continue
        value = "e.value" if table == "events" else "CAST(NULL AS DOUBLE)"
        parts.append(
            f"""
            SELECT e.patient_id, c.feature, count(*) AS n,
                   min(e.date) AS first_date, max(e.date) AS last_date,
                   arg_max({value}, ({"e.date, -e.value" if table == "events" else "e.date"}))
                       FILTER (WHERE {value} IS NOT NULL) AS last_value,
                   stddev_samp({value}) AS value_sd, count({value}) AS n_values
            FROM {table} e
            JOIN {CODES_TABLE} c ON e.code = c.code AND c.source = '{table}'
            JOIN {POP_TABLE} p ON e.patient_id = p.patient_id
            WHERE e.date <= $d AND (c.start_date IS NULL OR e.date > c.start_date)
            GROUP BY e.patient_id, c.feature
            """
        )
    sql = " UNION ALL ".join(parts)
    return con.execute(sql, {"d": index_date}).df()


def wide(long: pd.DataFrame, patients: pd.Series, stats: dict[str, str]) -> pd.DataFrame:
    """Pivot chosen statistics of chosen features to one row per patient.

    `stats` maps output column -> "feature.stat" (stat one of n, first_date, last_date, last_value,
    value_sd, n_values). Missing combinations are NaN (or 0 for counts).
    """
    out = pd.DataFrame(index=pd.Index(patients, name="patient_id"))
    by_feature = (
        {str(f): g.set_index("patient_id") for f, g in long.groupby("feature", sort=False)} if len(long) else {}
    )
    columns: dict[str, pd.Series] = {}
    for column, spec in stats.items():
        feature, _, stat = spec.partition(".")
        if feature in by_feature:
            series = by_feature[feature][stat].reindex(out.index)
        else:
            series = pd.Series(float("nan"), index=out.index)
        if stat in ("n", "n_values"):
            series = series.fillna(0).astype("int64")
        elif stat.endswith("_date"):
            series = pd.to_datetime(series)
        columns[column] = series
    return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)
