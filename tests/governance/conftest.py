"""Fixtures for governance tests: the operational DB on SQLite and on the real PostgreSQL, and a tiny
record store in DuckDB with hand-made practices and patients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pytest
from gov_testdata import TYPE1, WITHDRAW, build_store  # tests/governance is on sys.path (rootdir import mode)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Real argon2id with light parameters: the production cost (~0.3 s a hash here) would dominate the suite.
    test_users.py checks the production hasher separately."""
    from argon2 import PasswordHasher

    from carecommons.governance import users

    monkeypatch.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def store() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    build_store(
        con,
        events=[
            (2, TYPE1, dt.date(2019, 1, 1)),  # opted out
            (4, TYPE1, dt.date(2018, 1, 1)),
            (4, WITHDRAW, dt.date(2021, 1, 1)),  # opted back in
            (6, WITHDRAW, dt.date(2017, 1, 1)),
            (6, TYPE1, dt.date(2022, 5, 1)),  # withdrawal then opt-out again: opted out
        ],
    )
    yield con
    con.close()
