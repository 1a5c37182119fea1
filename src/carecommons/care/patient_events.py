"""One patient's coded history, read once per page and tagged with codelists in Python.

The record page used to ask the store eight or more questions about one patient (registers, six readings, the
care-gap slice), each a scan of the events table joined to a per-connection temp table of codes that every
request had to fill again. On a London-sized store each scan costs the whole table unless it is clustered by
patient, so the page grew with the city. Here the page reads the patient's events and vaccinations in one
query whose only filter is ``patient_id = ?`` (DuckDB pushes it into the scan, and on a store clustered by
patient the zone maps skip every other row group), then tags the rows with codelists from a per-process index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import duckdb

from carecommons.care.codes import codelist


@dataclass(frozen=True)
class CodedRow:
    """One coded row of the patient: from the events table ("events") or the vaccinations table."""

    source: str
    code: str
    date: dt.date
    value: float | None
    unit: str | None


@dataclass(frozen=True)
class PatientEvents:
    """Every events and vaccinations row of one patient (no date filter: callers apply their index date)."""

    patient_id: int
    rows: tuple[CodedRow, ...]

    def tagged(self, names: Iterable[str]) -> list[tuple[str, CodedRow]]:
        """(codelist id, row) for every row whose code is in one of the named codelists; a row in two lists
        appears twice, as a join of the rows to a (list_id, code) table would give."""
        index = lists_by_code(frozenset(names))
        return [(list_id, row) for row in self.rows for list_id in index.get(row.code, ())]


def read_patient_events(con: duckdb.DuckDBPyConnection, patient_id: int) -> PatientEvents:
    """The patient's events and vaccinations in one query; the patient_id equality is pushed into both scans."""
    rows = con.execute(
        """
        SELECT 'events' AS source, code, date, value, unit FROM events WHERE patient_id = $pid
        UNION ALL
        SELECT 'vaccinations', code, date, NULL::DOUBLE, NULL::VARCHAR FROM vaccinations WHERE patient_id = $pid
        """,
        {"pid": int(patient_id)},
    ).fetchall()
    return PatientEvents(
        int(patient_id),
        tuple(CodedRow(src, code, date, value, unit) for src, code, date, value, unit in rows if code and date),
    )


@lru_cache(maxsize=64)
def lists_by_code(names: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """code -> the named codelists that contain it, built once per process for each set of codelists."""
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        for code in codelist(name).codes:
            out.setdefault(code, []).append(name)
    return {code: tuple(lists) for code, lists in out.items()}


__all__ = ["CodedRow", "PatientEvents", "lists_by_code", "read_patient_events"]
