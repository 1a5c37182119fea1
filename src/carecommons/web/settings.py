"""Settings for one running web app, gathered in one place so tests can build an app over a temporary store."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from carecommons.core import paths

#: Where `npm ci` puts the NHS.UK frontend; it is served as /static/nhsuk and never copied into the repo.
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FRONTEND_DIR = REPO_ROOT / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"


def _secret_from_env() -> str:
    """CARECOMMONS_SECRET_KEY signs session cookies; without it each process makes its own, so sessions
    do not survive a restart (acceptable for a demo, not for production: set the variable)."""
    return os.environ.get("CARECOMMONS_SECRET_KEY") or secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Settings:
    """Everything the app needs from its deployment; defaults come from core.paths and the environment."""

    store_path: Path = field(default_factory=paths.store_path)
    operational_url: str = field(default_factory=paths.operational_url)
    secret_key: str = field(default_factory=_secret_from_env)
    frontend_dir: Path = DEFAULT_FRONTEND_DIR
    service_name: str = "Carecommons"
    #: Session lifetime: a working day, so a shared clinic PC does not stay signed in overnight.
    session_max_age_seconds: int = 8 * 3600
    #: Set True behind HTTPS so the session cookie is never sent in clear.
    secure_cookies: bool = False
    #: Login throttling: this many failures per (username, client address) within the window gives 429.
    login_max_failures: int = 5
    login_window_seconds: int = 60
    #: Planning aggregates are recomputed at most this often (and whenever the store file changes), so a
    #: patient's opt-out made in the platform reaches the dashboards within this many seconds.
    aggregate_ttl_seconds: float = 60.0
    #: SQLite file every worker process shares (sign-in throttle, published dashboards). None keeps both in
    #: this process (one app per test); `carecommons serve` puts it beside the store (see shared_path_for).
    shared_state_path: Path | None = None
    #: Build every organisation's dashboard of the planning cohorts in the background after start-up (and
    #: after a new engine run), so the first human view is a cache read. Off in unit tests' apps.
    warm_dashboards: bool = False
    #: Hold one read-only handle on the store for the process's life, so each request's connection reuses the
    #: open database (about 2 ms) instead of opening the file again (35-55 ms of CPU per request). While it is
    #: held no other process can open the store read-write: stop the server for `carecommons run`.
    keep_store_open: bool = False
    #: Share of one core the warm-up may use for PCN and practice pages (London, ICS and borough pages are built
    #: at full speed first). At a million patients there are ~1,400 fine pages per cohort at ~0.5-1 CPU s each;
    #: built flat out they took a core from the people using the server for the best part of an hour. 1.0 is
    #: full speed (tests); `carecommons serve` uses FINE_WARM_DUTY unless CARECOMMONS_WEB_WARM_DUTY says otherwise.
    warm_fine_duty: float = 1.0
    #: Summarise the store for the worklist rules in the background after start-up (care.rule_inputs), so a
    #: practice's first worklist view looks its patients up in memory instead of scanning the events table
    #: (~75 MiB per worker at a million patients). Off in unit tests' apps; on in `carecommons serve`.
    warm_worklists: bool = False


#: Environment variables `carecommons serve --workers N` passes to each worker process.
ENV_STORE = "CARECOMMONS_WEB_STORE"
ENV_SECURE_COOKIES = "CARECOMMONS_WEB_SECURE_COOKIES"
ENV_WARM = "CARECOMMONS_WEB_WARM"
ENV_PARENT = "CARECOMMONS_WEB_PARENT_PID"
ENV_SHARED = "CARECOMMONS_WEB_SHARED"
ENV_KEEP_OPEN = "CARECOMMONS_WEB_KEEP_STORE_OPEN"
ENV_WARM_DUTY = "CARECOMMONS_WEB_WARM_DUTY"
#: Default share of a core for the background warm-up of fine (PCN, practice) dashboards in served workers.
FINE_WARM_DUTY = 0.25


def _duty_from_env() -> float:
    """CARECOMMONS_WEB_WARM_DUTY as a share in (0, 1]; a bad value is an error naming the variable."""
    raw = os.environ.get(ENV_WARM_DUTY)
    if raw is None or raw == "":
        return FINE_WARM_DUTY
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise ValueError(
            f"{ENV_WARM_DUTY}={raw!r} is not a share of a core: give a number above 0 and at most 1, e.g. 0.25"
        )
    return value


def settings_from_env() -> Settings:
    """Settings of one worker process, from the environment the serving parent set (see cli.web_cmd)."""
    defaults = Settings()
    store = Path(os.environ[ENV_STORE]) if os.environ.get(ENV_STORE) else defaults.store_path
    shared = os.environ.get(ENV_SHARED)
    return Settings(
        store_path=store,
        shared_state_path=Path(shared) if shared else store.with_name(store.stem + ".web-shared.sqlite"),
        operational_url=defaults.operational_url,
        secret_key=defaults.secret_key,
        secure_cookies=os.environ.get(ENV_SECURE_COOKIES) == "1",
        warm_dashboards=os.environ.get(ENV_WARM, "1") == "1",
        keep_store_open=os.environ.get(ENV_KEEP_OPEN, "1") == "1",
        warm_fine_duty=_duty_from_env(),
        warm_worklists=os.environ.get(ENV_WARM, "1") == "1",
    )
