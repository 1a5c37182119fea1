"""Engine fixtures: a small SQL-generated record store with the London library run over it."""

from __future__ import annotations

import duckdb
import pytest

from carecommons.definitions.library import load_library
from carecommons.engine import synthetic
from carecommons.store.analytics import create_tables


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
