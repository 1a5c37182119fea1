"""Where things live by default, so the CLI, the web app and the tests agree without flags."""

from __future__ import annotations

import os
from pathlib import Path

#: Reference data shipped inside the package (copied byte-for-byte from ../shared/data; see its README.md).
REFERENCE_DATA = Path(__file__).resolve().parent.parent / "reference" / "data"


def home() -> Path:
    """Root of a deployment's files: CARECOMMONS_HOME, else ./var in the working directory."""
    return Path(os.environ.get("CARECOMMONS_HOME", "var")).resolve()


def sources_dir() -> Path:
    """Where synthetic (or received) source extracts are written and read."""
    return home() / "sources"


def store_path() -> Path:
    """The DuckDB record store file."""
    return home() / "store.duckdb"


def operational_url() -> str:
    """SQLAlchemy URL of the operational database: CARECOMMONS_DATABASE_URL, else SQLite in home()."""
    return os.environ.get("CARECOMMONS_DATABASE_URL", f"sqlite:///{home() / 'operational.sqlite'}")
