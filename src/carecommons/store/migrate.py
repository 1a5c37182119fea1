"""Bring an operational database to the newest schema with Alembic, from code or the CLI.

Production paths never call Base.metadata.create_all: every schema change is a reviewed migration,
and the same migrations run on SQLite (default) and PostgreSQL (production, CI).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from carecommons.core.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic Config pointing at our migrations, without needing an alembic.ini on disk."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["url"] = url
    return cfg


def head_revision() -> str:
    """The revision id the code expects the database to be at."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise ConfigurationError(
            "store/migrations", f"{len(heads)} migration heads ({', '.join(heads)})", "merge them into one head"
        )
    return heads[0]


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (SQLite file or PostgreSQL) to `revision` (default head)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None if it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    from carecommons.store.operational import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
