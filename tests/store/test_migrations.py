"""Alembic migrations produce exactly the governance tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from carecommons.store.migrate import alembic_config, current_revision, head_revision, upgrade
from carecommons.store.models import Base
from carecommons.store.operational import make_engine

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _fresh_pg() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is unreachable ({err.__class__.__name__})")
    name = f"cc_mig_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path) -> Iterator[str]:
    """A brand-new, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    else:
        yield from _fresh_pg()


def _governance_diffs(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()

    def table_of(diff) -> str:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name:
                return name
            if isinstance(part, str):
                return part
        return ""

    return [d for d in diffs if table_of(d).startswith("gov_")]


def test_upgrade_reaches_head_is_idempotent_and_matches_the_models(empty_url):
    upgrade(empty_url)
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    engine = make_engine(empty_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            head = conn.execute(text("SELECT id, last_seq, last_hash FROM gov_audit_head")).all()
    finally:
        engine.dispose()
    governance = {t.name for t in Base.metadata.sorted_tables if t.name.startswith("gov_")}
    assert governance <= tables
    assert [tuple(r) for r in head] == [(1, 0, "0" * 64)]
    # Autogenerate finds nothing to do: the migration made exactly the tables the models describe.
    assert _governance_diffs(empty_url) == []


def test_the_comparison_would_notice_a_missing_column(empty_url):
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE gov_patient_choices DROP COLUMN recorded_by"))
    finally:
        engine.dispose()
    assert _governance_diffs(empty_url) != []


def test_governance_revision_downgrades_cleanly(empty_url):
    upgrade(empty_url, "0001_governance")
    assert current_revision(empty_url) == "0001_governance"
    command.downgrade(alembic_config(empty_url), "base")
    engine = make_engine(empty_url)
    try:
        left = {t for t in inspect(engine).get_table_names() if t.startswith("gov_")}
    finally:
        engine.dispose()
    assert left == set()
