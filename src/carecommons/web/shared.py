"""State that every web worker process must share: failed sign-ins and built (published) dashboards.

Why: `carecommons serve --workers N` runs N uvicorn processes. Anything kept in one process's memory would
be seen by only one of them: a login throttle would allow N times the attempts, and each worker would build
every dashboard again. This module keeps that state in one small SQLite file (WAL, so readers never wait
for a writer) beside the record store, which every worker opens.

What may be stored here: sign-in failure times per (username, client address), and dashboards after
disclosure control (published, rounded and suppressed counts, the rates and charts drawn from them). Never
patient rows, and never the unsuppressed practice counts (those stay in each worker's memory).
"""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS login_failures (who TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_who ON login_failures (who, at)",
    "CREATE TABLE IF NOT EXISTS dashboards (key TEXT PRIMARY KEY, made REAL NOT NULL, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS claims (name TEXT PRIMARY KEY, pid INTEGER NOT NULL, at REAL NOT NULL)",
)
#: Published dashboards kept at most; the oldest go first (a results snapshot or cohort change makes new keys).
MAX_DASHBOARDS = 20_000


def shared_path_for(store_path: Path) -> Path:
    """The shared-state file of a deployment: beside its record store, so workers of one store share it."""
    return Path(store_path).with_name(Path(store_path).stem + ".web-shared.sqlite")


class SharedState:
    """One SQLite file; a connection per thread (sqlite3 connections are not shared between threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        with con:
            for stmt in _SCHEMA:
                con.execute(stmt)
        try:  # the file holds nothing secret, but only the service needs it
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one statement in its own transaction and return its rows."""
        con = self._connect()
        with con:
            return con.execute(sql, params).fetchall()

    def claim(self, name: str, pid: int) -> bool:
        """True for the first process to claim `name` (e.g. one background job per run and cohort)."""
        con = self._connect()
        with con:
            cur = con.execute("INSERT OR IGNORE INTO claims (name, pid, at) VALUES (?, ?, ?)", (name, pid, time.time()))
            return cur.rowcount == 1

    # -- published dashboards -------------------------------------------------------------------------------
    def get_dashboard(self, key: str) -> object | None:
        """A dashboard another worker (or the warm-up) already built, or None. A file that cannot be read back
        (e.g. written by another version) counts as a miss and is rebuilt."""
        rows = self.execute("SELECT value FROM dashboards WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            return pickle.loads(rows[0][0])  # written only by this module, in this deployment's own file
        except Exception as err:
            log.warning("unreadable cached dashboard dropped: %s", type(err).__name__)
            self.execute("DELETE FROM dashboards WHERE key = ?", (key,))
            return None

    def put_dashboard(self, key: str, value: object) -> None:
        """Keep a published dashboard for every worker; trims the oldest beyond MAX_DASHBOARDS."""
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.execute("INSERT OR REPLACE INTO dashboards (key, made, value) VALUES (?, ?, ?)", (key, time.time(), blob))

    def has_dashboard(self, key: str) -> bool:
        return bool(self.execute("SELECT 1 FROM dashboards WHERE key = ?", (key,)))

    def trim_dashboards(self, keep: int = MAX_DASHBOARDS) -> None:
        self.execute(
            "DELETE FROM dashboards WHERE key NOT IN (SELECT key FROM dashboards ORDER BY made DESC LIMIT ?)", (keep,)
        )


class SharedLoginRateLimiter:
    """Failed sign-ins per (username, client address) in a sliding window, shared by every worker.

    Same interface and rules as security.LoginRateLimiter; the clock is wall time (monotonic clocks are
    per process), injectable for tests.
    """

    def __init__(
        self,
        shared: SharedState,
        max_failures: int = 5,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shared = shared
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock

    @staticmethod
    def _who(username: str, client: str) -> str:
        return f"{username.strip().lower()}\x1f{client}"

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until another attempt is allowed, 0 if allowed now."""
        now = self._clock()
        rows = self.shared.execute(
            "SELECT at FROM login_failures WHERE who = ? AND at > ? ORDER BY at",
            (self._who(username, client), now - self.window),
        )
        if len(rows) < self.max_failures:
            return 0
        return max(1, int(rows[0][0] + self.window - now + 0.999))

    def failed(self, username: str, client: str) -> None:
        now = self._clock()
        who = self._who(username, client)
        self.shared.execute("INSERT INTO login_failures (who, at) VALUES (?, ?)", (who, now))
        self.shared.execute("DELETE FROM login_failures WHERE at <= ?", (now - self.window,))

    def succeeded(self, username: str, client: str) -> None:
        self.shared.execute("DELETE FROM login_failures WHERE who = ?", (self._who(username, client),))
