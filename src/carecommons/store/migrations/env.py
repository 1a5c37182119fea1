"""Alembic environment for the operational database.

The URL comes from carecommons.store.migrate.alembic_config (or CARECOMMONS_DATABASE_URL when run as
`alembic` by hand); target metadata is every model module in carecommons.store.models.
"""

from __future__ import annotations

from alembic import context

from carecommons.core.paths import operational_url
from carecommons.store.models import Base
from carecommons.store.operational import make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or operational_url()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (alembic upgrade --sql) without a database connection."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            # render_as_batch lets ALTER-style migrations run on SQLite (which rebuilds the table).
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
