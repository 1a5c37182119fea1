"""The application factory: `create_app(settings)` wires sessions, CSRF, error envelopes, static files and routers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from carecommons import __version__
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web import charts
from carecommons.web.aggregates import AggregateCache
from carecommons.web.auth import IdentityProvider, LocalIdentityProvider
from carecommons.web.deps import AppState
from carecommons.web.errors import install_error_handlers
from carecommons.web.routers import router_modules
from carecommons.web.security import CSRFMiddleware, LoginRateLimiter
from carecommons.web.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "carecommons_session"


def create_app(settings: Settings | None = None, identity_provider: IdentityProvider | None = None) -> FastAPI:
    """Build the app. `identity_provider` replaces local sign-in (e.g. with OpenID Connect; see docs/web.md)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        charts.warm_up()
        yield

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
    app.state.settings = settings
    app.state.cc = AppState(
        settings=settings,
        identity=identity_provider or LocalIdentityProvider(session_factory),
        rate_limiter=LoginRateLimiter(settings.login_max_failures, settings.login_window_seconds),
        session_factory=session_factory,
        aggregates=AggregateCache(settings.store_path, settings.aggregate_ttl_seconds),
        dashboard_cache={},
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
