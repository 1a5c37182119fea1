"""Engine fixtures: a small SQL-generated record store with the London library run over it."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from carecommons.definitions.library import load_library
from carecommons.engine import synthetic
from carecommons.store.analytics import create_tables

INDEX = dt.date(2025, 3, 31)
DATES = [dt.date(2025, 1, 31), dt.date(2025, 2, 28), INDEX]


@pytest.fixture(scope="module")
def library():
    return load_library()


@pytest.fixture
def store(library):
    con = duckdb.connect(":memory:")
    create_tables(con)
    synthetic.generate(con, library, patients=600, events_per_patient=40, patients_per_practice=100)
    yield con
    con.close()


def python_tables(con) -> dict[str, list[dict]]:
    """The store's engine tables as lists of dicts, for the reference evaluator."""
    out = {}
    for t in ("patients", "registrations", "events", "medications", "vaccinations"):
        cur = con.execute(f"SELECT * FROM {t}")
        names = [d[0] for d in cur.description]
        out[t] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return out
