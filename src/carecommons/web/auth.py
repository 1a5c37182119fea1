"""Who is signed in: an IdentityProvider interface with local accounts now and room for OpenID Connect later.

The web app only ever talks to `IdentityProvider`. Local accounts check argon2 hashes; an NHS deployment
would swap in an OpenID Connect provider (NHS CIS2 or the trust's Entra ID) by passing another
implementation to `create_app` — see docs/web.md, "Replacing local sign-in".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from carecommons.core.errors import ConfigurationError, NotFound
from carecommons.governance import users
from carecommons.governance.purposes import Purpose
from carecommons.web.roles import purposes_for


@dataclass(frozen=True)
class Identity:
    """A signed-in person as the web app sees them: never more than the session needs."""

    user_id: str
    display_name: str
    role: str
    org_id: str | None = None
    #: Purposes this person may choose; defaults from the role.
    purposes: tuple[Purpose, ...] = ()

    def allowed_purposes(self) -> tuple[Purpose, ...]:
        return self.purposes or purposes_for(self.role)


@runtime_checkable
class IdentityProvider(Protocol):
    """What the web app needs from any sign-in mechanism."""

    def authenticate(self, username: str, password: str) -> Identity | None:
        """The identity for these credentials, or None when they are wrong (never say which part was wrong)."""

    def get(self, user_id: str) -> Identity | None:
        """Look a signed-in user up again on each request, so a disabled account stops working at once."""


@dataclass
class _Account:
    identity: Identity
    password_hash: str


class InMemoryIdentityProvider:
    """Local accounts held in memory with argon2id hashes: the demo and the tests.

    For tests and embedding (e.g. a kiosk build) where accounts do not live in the operational database.
    Passwords are hashed on creation and only the hash is kept, as the database-backed store does.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._accounts: dict[str, _Account] = {}
        # A hash to verify against for unknown usernames, so timing does not reveal which usernames exist.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    def add(self, username: str, password: str, identity: Identity) -> None:
        self._accounts[username.lower()] = _Account(identity, self._hasher.hash(password))

    def authenticate(self, username: str, password: str) -> Identity | None:
        account = self._accounts.get(username.strip().lower())
        try:
            self._hasher.verify(account.password_hash if account else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return account.identity if account else None

    def get(self, user_id: str) -> Identity | None:
        return next((a.identity for a in self._accounts.values() if a.identity.user_id == user_id), None)


class LocalIdentityProvider:
    """Local accounts in the operational database (governance.users: argon2id hashes, deactivation)."""

    def __init__(self, session_factory) -> None:
        self._session_factory = session_factory

    def authenticate(self, username: str, password: str) -> Identity | None:
        with self._session_factory() as session:
            user = users.authenticate(session, username.strip(), password)
            return _identity_from_user(user) if user is not None else None

    def get(self, user_id: str) -> Identity | None:
        with self._session_factory() as session:
            try:
                user = users.get_user(session, user_id)
            except NotFound:
                return None
            return _identity_from_user(user) if user.active else None


def _identity_from_user(user) -> Identity:
    return Identity(
        user_id=user.user_id, display_name=user.display_name or user.user_id, role=user.role, org_id=user.org_id
    )


@dataclass
class OIDCIdentityProvider:
    """Placeholder for OpenID Connect (e.g. NHS CIS2). NOT wired: it shows the shape of the replacement.

    A real implementation redirects to the provider's authorisation endpoint, exchanges the code for an ID
    token, validates it against the provider's JWKS and maps claims (sub, name, role, org) to an Identity.
    Password sign-in does not apply, so `authenticate` refuses.
    """

    issuer: str
    client_id: str
    scopes: Iterable[str] = field(default=("openid", "profile"))

    def authenticate(self, username: str, password: str) -> Identity | None:
        raise ConfigurationError(
            "identity provider",
            "OpenID Connect sign-in is not implemented in this build",
            "use the local accounts provider, or implement the redirect flow described in docs/web.md",
        )

    def get(self, user_id: str) -> Identity | None:
        return None
