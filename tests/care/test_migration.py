"""Revision 0002_care: upgrade from 0001_governance, downgrade back, upgrade again, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic import command
from sqlalchemy import inspect

from carecommons.store.migrate import alembic_config, current_revision, head_revision, upgrade
from carecommons.store.operational import make_engine

CARE_TABLES = {
    "care_plans",
    "care_plan_goals",
    "care_plan_actions",
    "tasks",
    "task_events",
    "invitation_batches",
    "outbox_messages",
}
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _round_trip(url: str) -> None:
    upgrade(url, "0001_governance")
    assert not CARE_TABLES & _tables(url)
    upgrade(url)
    assert current_revision(url) == head_revision()
    assert CARE_TABLES <= _tables(url)
    command.downgrade(alembic_config(url), "0001_governance")
    assert current_revision(url) == "0001_governance"
    assert not CARE_TABLES & _tables(url)
    assert "gov_audit_log" in _tables(url)  # governance's tables untouched
    upgrade(url)
    assert CARE_TABLES <= _tables(url)


def test_care_revision_follows_governance():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    care = script.get_revision("0002_care")
    assert care.down_revision == "0001_governance"
    assert "0002_care" in {r.revision for r in script.iterate_revisions(head_revision(), "base")}


def test_round_trip_sqlite(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'op.sqlite'}")


@pytest.mark.postgres
def test_round_trip_postgres():
    try:
        with psycopg.connect(PG_ADMIN):
            pass
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL unreachable ({err.__class__.__name__})")
    schema = f"cc_care_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        _round_trip(f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
