"""Jinja2 set-up and the `render` helper that gives every page the header context (user, role, purpose, nav)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from carecommons.web.roles import PURPOSE_LABELS, role_label
from carecommons.web.security import csrf_token

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.globals["role_label"] = role_label
templates.env.globals["purpose_label"] = lambda p: PURPOSE_LABELS.get(p, str(p))


def _nav(request: Request, identity) -> list[dict[str, Any]]:
    from carecommons.web.routers import navigation

    if identity is None:
        return []
    purpose = request.scope.get("session", {}).get("purpose")
    path = request.url.path
    return [
        {
            "label": item.label,
            "href": item.href,
            "current": path == item.href or path.startswith(item.href.rstrip("/") + "/"),
        }
        for item in navigation()
        if item.visible_to(identity.role, purpose)
    ]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the shared header context. Care pages call this too."""
    from carecommons.web.deps import optional_identity

    identity = optional_identity(request)
    session = request.scope.get("session")
    ctx: dict[str, Any] = {
        "request": request,
        "service_name": getattr(getattr(request.app.state, "settings", None), "service_name", "Carecommons"),
        "identity": identity,
        "purpose": session.get("purpose") if session is not None and identity else None,
        "nav": _nav(request, identity),
        "csrf_token": csrf_token(session) if session is not None else "",
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code, headers=headers)
