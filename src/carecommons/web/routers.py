"""The explicit list of routers the app includes, and the navigation they contribute.

A router module exposes `router: fastapi.APIRouter` and may expose `NAV: list[web.roles.NavItem]`.
The care engineer's modules (web/routes/care_*.py) are included when present: first those named in
CARE_ROUTERS, in that order, then any other `care_*.py` in web/routes (sorted), so adding a care page
needs no edit here. See docs/web.md.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from types import ModuleType

from carecommons.web.roles import NavItem

CORE_ROUTERS: tuple[str, ...] = (
    "carecommons.web.routes.auth_pages",
    "carecommons.web.routes.public",
    "carecommons.web.routes.dashboards",
    "carecommons.web.routes.governance_pages",
    "carecommons.web.routes.symptoms_pages",
    "carecommons.web.routes.api",
)
CARE_ROUTERS: tuple[str, ...] = (
    "carecommons.web.routes.care_worklists",
    "carecommons.web.routes.care_record",
    "carecommons.web.routes.care_mdt",
    "carecommons.web.routes.care_portal",
    "carecommons.web.routes.care_api",
)
_ROUTES_DIR = Path(__file__).resolve().parent / "routes"


def _care_module_names() -> list[str]:
    present = {f"carecommons.web.routes.{p.stem}" for p in _ROUTES_DIR.glob("care_*.py")}
    named = [m for m in CARE_ROUTERS if m in present]
    return named + sorted(present - set(named))


@cache
def router_modules() -> tuple[ModuleType, ...]:
    """Core routers, then care routers that exist. An import error in a care module is raised, not hidden."""
    return tuple(importlib.import_module(name) for name in (*CORE_ROUTERS, *_care_module_names()))


def navigation() -> list[NavItem]:
    items: list[NavItem] = []
    for module in router_modules():
        items.extend(getattr(module, "NAV", ()))
    return items
