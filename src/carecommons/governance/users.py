"""Local accounts with argon2id password hashes, and turning a user into a Requester.

The web layer owns sessions and login pages; it calls authenticate() here so there is one place that
knows how passwords are stored and when an account may log in.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.governance import audit
from carecommons.governance.purposes import Purpose, Requester
from carecommons.governance.roles import Role, parse_role
from carecommons.store.models.governance import User

_HASHER = PasswordHasher()
_DUMMY_HASHES: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash with the current parameters, verified when the user does not exist, so a wrong username costs
    the same time as a wrong password (no user enumeration by timing)."""
    key = id(_HASHER)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = _HASHER.hash("carecommons-timing-equaliser")
    return _DUMMY_HASHES[key]


MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"shorter than {MIN_PASSWORD_LENGTH} characters", "choose a longer password")
    return _HASHER.hash(password)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    org_id: str | None,
    display_name: str = "",
    profession: str | None = None,
    patient_id: int | None = None,
    actor: str = "system",
) -> User:
    """Create an account (committed). Patients must name their patient_id; others an organisation."""
    role_ = parse_role(role)
    if not username or len(username) > 64 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("username", "must be 1-64 letters, digits, '.', '-' or '_'", "choose another username")
    if session.get(User, username) is not None:
        raise InvalidInput("username", f"{username!r} already exists", "choose another username")
    if role_ is Role.PATIENT and patient_id is None:
        raise InvalidInput("patient_id", "a patient account needs the patient's id", "pass patient_id")
    if role_ not in (Role.PATIENT, Role.CARER) and org_id is None:
        raise InvalidInput("org_id", f"a {role_.value} account needs an organisation", "pass org_id")
    user = User(
        user_id=username,
        password_hash=hash_password(password),
        display_name=display_name or username,
        role=role_.value,
        org_id=org_id,
        profession=profession,
        patient_id=patient_id,
        active=True,
    )
    session.add(user)
    session.flush()
    audit.record_change(session, actor, "user_created", None, f"user {username} as {role_.value}")
    return user


def get_user(session: Session, username: str) -> User:
    user = session.get(User, username)
    if user is None:
        raise NotFound("username", f"{username!r} is not a user", "check the name or create the account")
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password matches an active account, else None (never says which part was wrong).

    Rehashes transparently when argon2 parameters have been strengthened since the hash was made.
    """
    user = session.get(User, username) if username else None
    stored = user.password_hash if user is not None else _dummy_hash()
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
        session.commit()
    return user


def set_password(session: Session, username: str, password: str, actor: str | None = None) -> None:
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    audit.record_change(session, actor or username, "password_set", None, f"user {username}")


def deactivate(session: Session, username: str, actor: str = "system") -> None:
    """Accounts are deactivated, never deleted, so audit entries keep pointing at a real user."""
    get_user(session, username).active = False
    audit.record_change(session, actor, "user_deactivated", None, f"user {username}")


def requester_for(
    user: User, purpose: Purpose, project_id: str | None = None, break_glass_reason: str | None = None
) -> Requester:
    """The Requester every governed call takes, built from the logged-in user."""
    return Requester(
        user_id=user.user_id,
        role=user.role,
        org_id=user.org_id,
        purpose=Purpose(purpose),
        project_id=project_id,
        break_glass_reason=break_glass_reason,
    )
