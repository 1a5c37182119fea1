"""A tiny in-memory record store with hand-made patients, for the risk layer's store functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import pytest

from carecommons.store.analytics import create_tables

INDEX = dt.date(2026, 3, 31)


@dataclass
class StoreBuilder:
    """Adds rows to the canonical tables with sensible defaults so each test states only what matters."""

    con: duckdb.DuckDBPyConnection
    next_id: int = 1
    ids: dict[str, int] = field(default_factory=dict)

    def patient(
        self,
        label: str,
        *,
        age: int,
        sex: str = "F",
        ethnicity_code: str | None = None,
        ethnicity_16: str | None = None,
        registered: bool = True,
        died: dt.date | None = None,
    ) -> int:
        pid = self.next_id
        self.next_id += 1
        self.ids[label] = pid
        dob = dt.date(INDEX.year - age, 1, 15)  # birthday already passed on the index date
        self.con.execute(
            "INSERT INTO patients (patient_id, date_of_birth, sex, ethnicity_code, ethnicity_16, date_of_death, "
            "practice_id, load_id) VALUES (?, ?, ?, ?, ?, ?, 'P1', 'L')",
            [pid, dob, sex, ethnicity_code, ethnicity_16, died],
        )
        start, end = dt.date(2000, 1, 1), None if registered else dt.date(2020, 1, 1)
        self.con.execute(
            "INSERT INTO registrations VALUES (?, 'P1', ?, ?, 'L')",
            [pid, start, end],
        )
        return pid

    def event(self, label: str, code: str, date: dt.date, value: float | None = None) -> None:
        self.con.execute(
            "INSERT INTO events VALUES (?, 'P1', ?, ?, ?, NULL, 'L')", [self.ids[label], code, date, value]
        )

    index: dt.date = INDEX

    @staticmethod
    def ago(days: int) -> dt.date:
        """The date `days` before the index date."""
        return INDEX - dt.timedelta(days=days)

    @staticmethod
    def code(codelist: str, n: int = 0) -> str:
        """The n-th code (sorted) of a risk codelist: tests name lists, not magic numbers."""
        from carecommons.risk import codes

        cl = codes.dmd(codelist) if codelist in codes.DMD else codes.snomed(codelist)
        return sorted(cl.codes)[n]

    def med(self, label: str, code: str, date: dt.date) -> None:
        self.con.execute("INSERT INTO medications VALUES (?, 'P1', ?, ?, 'L')", [self.ids[label], code, date])


@pytest.fixture
def store() -> Iterator[StoreBuilder]:
    con = duckdb.connect(":memory:")
    create_tables(con)
    yield StoreBuilder(con)
    con.close()
