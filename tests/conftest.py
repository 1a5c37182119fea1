"""Shared fixtures. Layer-specific fixtures live in tests/<layer>/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, delete, inspect, text
from sqlalchemy.orm import Session

from carecommons.store.migrate import upgrade
from carecommons.store.models import Base
from carecommons.store.operational import make_engine, make_sessionmaker

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


@pytest.fixture
def carecommons_home(tmp_path, monkeypatch):
    """An isolated CARECOMMONS_HOME so tests never touch a developer's var/ directory."""
    monkeypatch.setenv("CARECOMMONS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# --- the operational database, migrated by Alembic, on SQLite and on the real PostgreSQL -------------------
# Shared by the governance and care tests: one database per backend per session, emptied before each test.


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own for this test session, dropped afterwards."""
    try:
        with psycopg.connect(PG_ADMIN):
            pass
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is unreachable ({err.__class__.__name__})")
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('opdb') / 'operational.sqlite'}"


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_engine(request) -> Iterator[Engine]:
    """One database per backend per session, brought to head by the real migrations."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_database")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _empty(engine: Engine) -> None:
    present = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in present and table.name != "gov_audit_head":
                conn.execute(delete(table))
        conn.execute(text("UPDATE gov_audit_head SET last_seq = 0, last_hash = :g"), {"g": "0" * 64})


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    _empty(migrated_engine)
    return migrated_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as s:
        yield s
