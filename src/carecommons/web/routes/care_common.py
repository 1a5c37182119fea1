"""Helpers shared by the care pages: the record-store connection, form parsing, role groups.

`web.routers` includes every `care_*.py` module as a router, so this module exposes an empty `router`;
it adds no routes of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput
from carecommons.governance.roles import PRACTICE_ROLES, Role
from carecommons.web.deps import state

router = APIRouter(include_in_schema=False)

PRACTICE_ROLE_VALUES = frozenset(r.value for r in PRACTICE_ROLES)
CLINICAL_CARE_ROLES = frozenset({Role.GP.value, Role.NURSE.value, Role.PHARMACIST.value, Role.MDT_MEMBER.value})
PROFESSIONAL_ROLES = PRACTICE_ROLE_VALUES | {Role.MDT_MEMBER.value}
PORTAL_ROLE_VALUES = frozenset({Role.PATIENT.value, Role.CARER.value})


@contextmanager
def store(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the record store for one request (temp tables still work)."""
    con = duckdb.connect(str(state(request).settings.store_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def op_session(request: Request) -> Iterator[Session]:
    with state(request).session_factory() as session:
        yield session


def parse_date(value: str, field: str) -> dt.date | None:
    """An optional YYYY-MM-DD form field; InvalidInput naming the field (never echoing the value)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "is not a date in the form YYYY-MM-DD", "enter a date like 2026-07-31") from None


def parse_int(value: str, field: str, *, required: bool = False) -> int | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(field, "is required", f"enter the {field}")
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(field, "is not a whole number", "enter digits only") from None


def parse_version(form) -> int:
    """The optimistic-locking `version` a form sends back. It is user-controllable, so garbage (text, a number
    too big for the database) is an InvalidInput (400), never a 500."""
    value = parse_int(str(form.get("version", "")), "version")
    if value is None:
        return 0  # as before: a form without a version is checked against version 0 (a conflict if edited)
    if not 0 <= value < 2**31:
        raise InvalidInput("version", "is out of range", "reload the page and submit the form again")
    return value
