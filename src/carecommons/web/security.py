"""Session-bound CSRF tokens and login throttling.

CSRF: every unsafe request from a browser session must carry the session's token, in the form field
`csrf_token` or the `X-CSRF-Token` header. It is enforced by one ASGI middleware, so routes added later
(the care engineer's forms too) are protected without remembering to opt in.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_SESSION_KEY = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: A form bigger than this is not read for a token (and is refused): nothing in the app posts that much.
_MAX_FORM_BYTES = 2 * 1024 * 1024


def csrf_token(session: dict) -> str:
    """The session's CSRF token, created on first use; templates put it in every form."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


class CSRFMiddleware:
    """Rejects unsafe requests whose token does not match the session's (403, envelope or page).

    Must sit inside Starlette's SessionMiddleware so `scope["session"]` exists. Requests with no session
    cookie at all are refused too: the login form itself carries a token issued when it was displayed.
    """

    def __init__(self, app: ASGIApp, exempt_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        expected = scope.get("session", {}).get(CSRF_SESSION_KEY)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        supplied = headers.get(CSRF_HEADER)
        body = b""
        if supplied is None:
            body, too_big = await _read_body(receive)
            if not too_big:
                supplied = await _token_from_form(scope, body)
        if not expected or not supplied or not hmac.compare_digest(str(expected), str(supplied)):
            from carecommons.web.errors import csrf_failure_response

            response = csrf_failure_response(Request(scope))
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive) if body else receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_FORM_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


async def _token_from_form(scope: Scope, body: bytes) -> str | None:
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FORM_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        form = await Request(scope, _replay(body, None)).form()
        value = form.get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


def _replay(body: bytes, downstream: Receive | None) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if downstream is not None:
            return await downstream()
        return {"type": "http.disconnect"}

    return receive


class LoginRateLimiter:
    """Counts failed sign-ins per (username, client address) in a sliding window.

    In memory and per process: enough for one demo server. Several workers would share it through the
    operational database or Redis instead; the interface stays the same.
    """

    def __init__(self, max_failures: int = 5, window_seconds: float = 60.0, clock=time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] >= self.window:
            q.popleft()
        return q

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until another attempt is allowed, 0 if allowed now."""
        key = (username.strip().lower(), client)
        with self._lock:
            now = self._clock()
            q = self._prune(key, now)
            if len(q) < self.max_failures:
                return 0
            return max(1, int(q[0] + self.window - now + 0.999))

    def failed(self, username: str, client: str) -> None:
        key = (username.strip().lower(), client)
        with self._lock:
            now = self._clock()
            self._prune(key, now).append(now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username.strip().lower(), client), None)
