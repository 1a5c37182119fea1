"""Sign in, choose a purpose, sign out, and the home page that sends each role where it works."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from carecommons.governance.purposes import Purpose
from carecommons.web.auth import Identity
from carecommons.web.deps import (
    SESSION_PROJECT,
    SESSION_PURPOSE,
    SESSION_USER,
    current_identity,
    optional_identity,
    state,
)
from carecommons.web.errors import TooManyAttempts
from carecommons.web.roles import CLINICAL_ROLES, DASHBOARD_ROLES, OVERSIGHT_ROLES, PURPOSE_LABELS
from carecommons.web.security import CSRF_SESSION_KEY, csrf_token
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV: list = []


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in would help phishing."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def home_for(identity: Identity) -> str:
    if identity.role in OVERSIGHT_ROLES:
        return "/governance"
    if identity.role in DASHBOARD_ROLES:
        return "/dashboards/london"
    if identity.role in CLINICAL_ROLES:
        return "/symptoms"
    return "/transparency"


@router.get("/")
def home(request: Request) -> Response:
    identity = optional_identity(request)
    if identity is None:
        return RedirectResponse("/transparency", status_code=303)
    return RedirectResponse(home_for(identity), status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    csrf_token(request.session)
    return render(request, "login.html", {"next": _safe_next(next), "errors": {}})


@router.post("/login")
def login(
    request: Request,
    username: str = Form("", max_length=200),
    password: str = Form("", max_length=1000),
    next: str = Form("/"),
) -> Response:
    st = state(request)
    client = request.client.host if request.client else "unknown"
    wait = st.rate_limiter.retry_after(username, client)
    if wait:
        raise TooManyAttempts(wait)
    errors = {}
    if not username.strip():
        errors["username"] = "Enter your username"
    if not password:
        errors["password"] = "Enter your password"
    identity = st.identity.authenticate(username, password) if not errors else None
    if identity is None:
        if not errors:
            st.rate_limiter.failed(username, client)
            errors["form"] = "The username or password is not right"
        return render(
            request, "login.html", {"next": _safe_next(next), "errors": errors, "username": username}, status_code=400
        )
    st.rate_limiter.succeeded(username, client)
    # New session on sign-in (no fixation): drop everything, issue a fresh CSRF token.
    request.session.clear()
    request.session[SESSION_USER] = identity.user_id
    purposes = identity.allowed_purposes()
    request.session[SESSION_PURPOSE] = purposes[0].value if purposes else None
    csrf_token(request.session)
    if len(purposes) > 1:
        return RedirectResponse(f"/purpose?next={_safe_next(next)}", status_code=303)
    target = _safe_next(next)
    return RedirectResponse(home_for(identity) if target == "/" else target, status_code=303)


@router.get("/purpose")
def purpose_form(request: Request, next: str | None = None, identity: Identity = Depends(current_identity)) -> Response:
    options = [(p.value, PURPOSE_LABELS[p]) for p in identity.allowed_purposes()]
    return render(
        request,
        "purpose.html",
        {"options": options, "next": _safe_next(next), "current": request.session.get(SESSION_PURPOSE)},
    )


@router.post("/purpose")
def choose_purpose(
    request: Request,
    purpose: str = Form(...),
    next: str = Form("/"),
    project_id: str = Form("", max_length=64),
    identity: Identity = Depends(current_identity),
) -> Response:
    allowed = {p.value for p in identity.allowed_purposes()}
    if purpose not in allowed:
        options = [(p.value, PURPOSE_LABELS[p]) for p in identity.allowed_purposes()]
        return render(
            request,
            "purpose.html",
            {
                "options": options,
                "next": _safe_next(next),
                "current": None,
                "error": "Choose one of the purposes listed",
            },
            status_code=400,
        )
    request.session[SESSION_PURPOSE] = Purpose(purpose).value
    # Research needs an approved project; governance checks it on every data request (allowed_patients).
    if Purpose(purpose) is Purpose.RESEARCH and project_id.strip():
        request.session[SESSION_PROJECT] = project_id.strip()
    else:
        request.session.pop(SESSION_PROJECT, None)
    target = _safe_next(next)
    return RedirectResponse(home_for(identity) if target == "/" else target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    request.session[CSRF_SESSION_KEY] = ""
    return RedirectResponse("/login", status_code=303)
