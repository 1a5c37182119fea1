"""Operational-database models, one module per layer, all on carecommons.store.operational.Base.

Importing this package imports every module in it, so Alembic (store/migrations/env.py) sees every
table, including ones other layers add later (e.g. store/models/care.py), without editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil

from carecommons.store.operational import Base


def load_all() -> None:
    """Import every model module so Base.metadata is complete."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


load_all()

__all__ = ["Base", "load_all"]
