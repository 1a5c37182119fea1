"""One error shape for the whole app: the JSON envelope for /api, an NHS.UK error page for people.

Every failure — our CarecommonsError family, FastAPI validation, unknown routes, unexpected exceptions —
goes through here, so an API client always gets `{"ok": false, "error": {...}}` and a person always gets
a page that says what went wrong and what to do, never a stack trace (which could hold patient values).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from carecommons.core.errors import AccessDenied, CarecommonsError, ConfigurationError, InvalidInput, NotFound

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

_TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Access denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Service unavailable",
}


class NotSignedIn(Exception):
    """Raised by dependencies when a page or endpoint needs a signed-in user and there is none."""


class TooManyAttempts(Exception):
    """Raised when the login rate limit is reached; carries the seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after} s")


def status_for(exc: CarecommonsError) -> int:
    """HTTP status of a CarecommonsError subclass."""
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, ConfigurationError):
        return 503
    return 400


def jsonable(value: Any) -> Any:
    """Plain JSON values: suppressed (NA) counts become null, numpy numbers become int/float, dates ISO strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if isinstance(value, float | np.floating):
        return round(float(value), 3)
    if isinstance(value, int | np.integer):
        return int(value)
    return value


def envelope(data: Any, **meta: Any) -> dict[str, Any]:
    """The success envelope every /api/v1 endpoint returns."""
    return {"ok": True, "data": jsonable(data), "meta": jsonable(meta)}


def error_body(status: int, detail: str, fix: str = "", title: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "error": {"status": status, "title": title or _TITLES.get(status, "Error"), "detail": detail, "fix": fix},
    }


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def error_response(
    request: Request, status: int, detail: str, fix: str = "", headers: dict[str, str] | None = None
) -> Response:
    """JSON envelope for the API, an error page otherwise."""
    if _is_api(request):
        return JSONResponse(error_body(status, detail, fix), status_code=status, headers=headers)
    from carecommons.web.templating import render

    return render(
        request,
        "errors/error.html",
        {"status": status, "title": _TITLES.get(status, "Error"), "detail": detail, "fix": fix},
        status_code=status,
        headers=headers,
    )


def csrf_failure_response(request: Request) -> Response:
    return error_response(
        request,
        403,
        "The form could not be accepted because its security token is missing or out of date.",
        "Go back, reload the page and submit the form again.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an envelope or an error page."""

    @app.exception_handler(CarecommonsError)
    async def _carecommons(request: Request, exc: CarecommonsError) -> Response:
        status = status_for(exc)
        if status >= 500:
            log.error("configuration problem on %s: %s", request.url.path, exc.input_name)
        return error_response(request, status, f"{exc.input_name}: {exc.problem}", exc.fix)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # Name the fields, never echo the submitted values (they may be patient data).
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where or 'input'}: {err.get('msg', 'invalid')}")
        return error_response(request, 422, "; ".join(problems), "Correct the named fields and try again.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        fix = "Check the address." if exc.status_code == 404 else ""
        return error_response(request, exc.status_code, detail, fix, headers=getattr(exc, "headers", None))

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request):
            return error_response(request, 401, "This endpoint needs a signed-in user.", "Sign in at /login first.")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(TooManyAttempts)
    async def _too_many(request: Request, exc: TooManyAttempts) -> Response:
        return error_response(
            request,
            429,
            "Too many failed sign-in attempts for this account from this device.",
            f"Wait {exc.retry_after} seconds and try again.",
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        # A lost or refused database connection is an outage, not a bug: 503 + Retry-After lets clients and
        # load balancers retry (the pool's pre-ping replaces stale connections once the database is back).
        # Other DBAPI errors (constraint violations and the like) stay unexpected 500s.
        if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
            return await _unexpected(request, exc)
        log.error("operational database unavailable on %s (%s)", request.url.path, type(exc.orig).__name__)
        return error_response(
            request,
            503,
            "The database is unavailable for a moment.",
            "Try again in a few seconds.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Log the type and route only: the message of an arbitrary exception may contain patient values.
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        return error_response(
            request, 500, "An unexpected error happened.", "Try again; if it persists, tell the platform operator."
        )
