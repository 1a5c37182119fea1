"""FastAPI dependencies: the app state, the signed-in identity and the Requester every request builds."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request

from carecommons.core.errors import AccessDenied
from carecommons.governance.purposes import Purpose, Requester
from carecommons.web.auth import Identity, IdentityProvider
from carecommons.web.errors import NotSignedIn
from carecommons.web.security import LoginRateLimiter
from carecommons.web.settings import Settings
from carecommons.web.shared import SharedLoginRateLimiter, SharedState

SESSION_USER = "uid"
SESSION_PURPOSE = "purpose"
SESSION_PROJECT = "project_id"


@dataclass
class AppState:
    """What routes need beyond the request; one per app, kept on app.state.cc."""

    settings: Settings
    identity: IdentityProvider
    rate_limiter: LoginRateLimiter | SharedLoginRateLimiter
    session_factory: Callable[[], Any]
    aggregates: Any  # web.aggregates.AggregateCache
    dashboard_cache: dict
    #: State shared by every worker process (None only if its file could not be opened).
    shared: SharedState | None = None
    #: Chart images drawn or read by this app (name -> SVG), newest last; bounded by the dashboards route. Per
    #: app, not per module: two apps in one process (tests standing for two workers) must not share it.
    chart_cache: OrderedDict[str, str] = field(default_factory=OrderedDict)
    chart_lock: threading.Lock = field(default_factory=threading.Lock)
    #: The information-governance lead's opt-out counts (web.opt_out_counts.OptOutCountCache).
    opt_out_counts: Any = None


def state(request: Request) -> AppState:
    return request.app.state.cc


def optional_identity(request: Request) -> Identity | None:
    """The signed-in identity, re-read from the provider (a disabled account stops at once), or None."""
    session = request.scope.get("session")
    if not session or SESSION_USER not in session:
        return None
    cached = request.scope.get("cc.identity")
    if cached is not None:
        return cached
    identity = state(request).identity.get(session[SESSION_USER])
    if identity is None:
        session.clear()
        return None
    request.scope["cc.identity"] = identity
    return identity


def current_identity(request: Request) -> Identity:
    identity = optional_identity(request)
    if identity is None:
        raise NotSignedIn()
    return identity


def current_requester(request: Request, identity: Identity = Depends(current_identity)) -> Requester:
    """Every signed-in request acts as a Requester: who, role, organisation and the purpose chosen at sign-in."""
    raw = request.session.get(SESSION_PURPOSE)
    allowed = identity.allowed_purposes()
    if not allowed:
        raise AccessDenied(
            "role",
            f"the role '{identity.role}' has no purpose in this service",
            "ask an administrator to fix your role",
        )
    purpose = Purpose(raw) if raw in {p.value for p in allowed} else allowed[0]
    return Requester(
        user_id=identity.user_id,
        role=identity.role,
        org_id=identity.org_id,
        purpose=purpose,
        project_id=request.session.get(SESSION_PROJECT) if purpose is Purpose.RESEARCH else None,
    )


def require_roles(*roles: str) -> Callable[..., Requester]:
    """Dependency factory: the requester, if their role is one of `roles`; AccessDenied (403) otherwise."""
    allowed = frozenset(roles)

    def _dep(requester: Requester = Depends(current_requester)) -> Requester:
        if requester.role not in allowed:
            raise AccessDenied(
                "role", "this page is not available to your role", "sign in with an account that has access"
            )
        return requester

    return _dep
