"""The application factory: `create_app(settings)` wires sessions, CSRF, error envelopes, static files and routers."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sqlite3
import sys
import threading
from contextlib import asynccontextmanager

import duckdb
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from carecommons import __version__
from carecommons.care import indicator_gaps, rule_inputs, worklists
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web import charts
from carecommons.web.aggregates import AggregateCache
from carecommons.web.auth import IdentityProvider, LocalIdentityProvider
from carecommons.web.deps import AppState
from carecommons.web.errors import install_error_handlers
from carecommons.web.opt_out_counts import OptOutCountCache
from carecommons.web.routers import router_modules
from carecommons.web.routes import care_worklists
from carecommons.web.security import CSRFMiddleware, LoginRateLimiter
from carecommons.web.settings import ENV_PARENT, Settings, settings_from_env
from carecommons.web.shared import SharedLoginRateLimiter, SharedState
from carecommons.web.warm import Warmer

log = logging.getLogger(__name__)

SESSION_COOKIE = "carecommons_session"


def create_app(settings: Settings | None = None, identity_provider: IdentityProvider | None = None) -> FastAPI:
    """Build the app. `identity_provider` replaces local sign-in (e.g. with OpenID Connect; see docs/web.md)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        charts.warm_up()
        anchor = _hold_store_open(settings)
        warmer = None
        if settings.warm_worklists:
            app.state.worklist_warm = warm_worklists_in_background(settings)
        if settings.warm_dashboards:
            warmer = Warmer(app.state.cc)
            app.state.warmer = warmer
            warmer.start()
        yield
        if warmer is not None:
            warmer.stop()
        if anchor is not None:
            anchor.close()

    app = FastAPI(
        title="Carecommons",
        version=__version__,
        description="London's GP records for direct care and planning, under governance. "
        "Every response uses the envelope {ok, data, meta} or {ok: false, error}.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    engine = make_engine(settings.operational_url)
    session_factory = make_sessionmaker(engine)
    shared = _open_shared(settings)
    limiter = (
        SharedLoginRateLimiter(shared, settings.login_max_failures, settings.login_window_seconds)
        if shared is not None
        else LoginRateLimiter(settings.login_max_failures, settings.login_window_seconds)
    )
    app.state.settings = settings
    app.state.cc = AppState(
        settings=settings,
        identity=identity_provider or LocalIdentityProvider(session_factory),
        rate_limiter=limiter,
        session_factory=session_factory,
        aggregates=AggregateCache(settings.store_path, settings.aggregate_ttl_seconds),
        dashboard_cache={},
        shared=shared,
        opt_out_counts=OptOutCountCache(settings.store_path),
    )
    install_error_handlers(app)
    # Order: SessionMiddleware must wrap CSRFMiddleware (added first = innermost).
    app.add_middleware(CSRFMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    if settings.frontend_dir.is_dir():
        app.mount("/static/nhsuk", StaticFiles(directory=str(settings.frontend_dir)), name="nhsuk")
    else:
        log.warning("NHS.UK frontend not found at %s: run scripts/install-frontend.sh", settings.frontend_dir)
    for module in router_modules():
        app.include_router(module.router)

    @app.middleware("http")
    async def _security_headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            )
        if request.scope.get("session"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _hold_store_open(settings: Settings) -> duckdb.DuckDBPyConnection | None:
    """One read-only connection kept for the app's life when the settings ask for it. DuckDB reuses an open
    database for further connections to the same file in this process, so every request's own connection
    (routes.care_common.store, the aggregate count) is cheap; each keeps its own temp tables."""
    if not settings.keep_store_open or not settings.store_path.exists():
        return None
    try:
        return duckdb.connect(str(settings.store_path), read_only=True)
    except duckdb.Error as err:
        log.warning("record store not held open (%s); each request opens it", type(err).__name__)
        return None


def freeze_start_up_objects() -> None:
    """Move every object alive now (modules, the library, templates, the worklist summary) out of the garbage
    collector's reach. They live as long as the worker, yet each full collection walked all of them: at a million
    patients a collection that landed inside a worklist view added ~130 ms to it (12 ms once frozen). Objects
    frozen here are still freed by reference counting; only cycles among them would stay until exit. Called by a
    serving worker's warm-up, never by an app a test builds (the test process would keep every cycle)."""
    gc.freeze()


def warm_worklists_in_background(settings: Settings) -> threading.Thread | None:
    """Start the one-off summary of the store for the worklist rules (care.rule_inputs) in a daemon thread,
    after the imports and library load of the indicator care gaps (care.indicator_gaps.prepare).

    Seconds of CPU at a million patients, so never in a request: until it is ready, worklist views scan the
    store as before. Returns the thread (the benchmark and tests join it), or None without a store."""
    if not settings.store_path.exists():
        return None

    def run() -> None:
        try:
            indicator_gaps.prepare()
            care_worklists.rule_choices()  # the filter's choices, built once per process from the library
            con = duckdb.connect(str(settings.store_path), read_only=True)
            try:
                rule_inputs.prepare(con, worklists.rule_lists())
            finally:
                con.close()
            freeze_start_up_objects()
        except Exception as err:  # never take the worker down: views fall back to scanning the store
            log.warning("worklist rule inputs not prepared (%s: %s); worklists scan the store", type(err).__name__, err)

    thread = threading.Thread(target=run, name="worklist-warm", daemon=True)
    thread.start()
    return thread


def _open_shared(settings: Settings) -> SharedState | None:
    """The shared-state file, if the settings name one. If it cannot be opened (read-only directory), the app
    still serves, with a per-process throttle and cache, and says so."""
    path = settings.shared_state_path
    if path is None:
        return None
    try:
        return SharedState(path)
    except (OSError, sqlite3.Error) as err:
        log.warning(
            "shared web state %s cannot be opened (%s): sign-in throttling and the dashboard cache are per "
            "process; run one worker or make the directory writable",
            path,
            type(err).__name__,
        )
        return None


def create_app_from_env() -> FastAPI:
    """Factory each `carecommons serve --workers N` process calls; settings come from the environment the
    parent set (same store, database, secret key, cookie flag in every worker)."""
    _die_with_parent()
    return create_app(settings_from_env())


def _die_with_parent() -> None:
    """A worker whose serving parent is killed (kill -9, OOM) exits too, instead of living on as an orphan
    that keeps the port and serves without supervision (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    parent = os.environ.get(ENV_PARENT)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except OSError:
        log.warning("could not ask to be stopped with the serving process; an orphaned worker may linger")
        return
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)
