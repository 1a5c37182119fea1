"""Background warm-up: count the planning cohorts and build their dashboards before anyone asks.

Why: the first view of an organisation's dashboard publishes every definition's cells, four breakdowns and
the time series, and draws six charts (about a second at 100 k patients, more at 1 M), and the first
request for a cohort in a worker waits for the count over the engine's results (seconds to a minute at
1 M). After `carecommons serve` starts, and at every poll after (a new engine run, or a cohort whose
fingerprint changed after an opt-out, is new work; cohorts already done cost a lookup), every worker counts
the cohorts of the active planning accounts in a background thread (the counts stay in its memory), and one
worker (whichever claims the job in the shared-state file) builds every organisation's dashboard for the
default definition, coarse levels first, into the shared file. Only published (disclosure-controlled)
dashboards are written there.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

from sqlalchemy import select

from carecommons import __version__
from carecommons.core.errors import CarecommonsError
from carecommons.core.orgs import LEVELS_FINE_TO_COARSE, OrgLevel
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.models.governance import User
from carecommons.web import dashboards
from carecommons.web.aggregates import PracticeAggregates, latest_run
from carecommons.web.roles import DASHBOARD_ROLES, purposes_for

log = logging.getLogger(__name__)

#: Bump when the Dashboard view model changes shape, so workers never read a page built by older code.
DASHBOARD_FORMAT = 2
#: Levels built at the settings' warm_fine_duty (PCN and practice pages: many, and opened less than the others).
FINE_LEVELS = frozenset({OrgLevel.PCN, OrgLevel.PRACTICE})
#: How often a warm worker looks for a new engine run.
POLL_SECONDS = 30.0


def dashboard_key(aggs: PracticeAggregates, level: OrgLevel, org_id: str, definition_id: str) -> str:
    """Key of one published dashboard: code version, cohort fingerprint, organisation and definition."""
    cohort = aggs.cohort or f"process-{os.getpid()}-{id(aggs)}"  # unfingerprinted (hand-made) aggregates
    return "\x1f".join((__version__, str(DASHBOARD_FORMAT), cohort, level.value, org_id, definition_id))


def planning_requesters(session_factory) -> list[Requester]:
    """One planning Requester per active account that may see dashboards (cohorts are deduplicated later)."""
    with session_factory() as session:
        users = session.execute(select(User).where(User.active.is_(True))).scalars().all()
        out = []
        for u in users:
            if u.role in DASHBOARD_ROLES and Purpose.PLANNING in purposes_for(u.role):
                out.append(Requester(user_id=u.user_id, role=u.role, org_id=u.org_id, purpose=Purpose.PLANNING))
        return out


def organisations(aggs: PracticeAggregates) -> list[tuple[OrgLevel, str]]:
    """Every organisation the cohort covers, London first and practices last (coarse pages are viewed most)."""
    out: list[tuple[OrgLevel, str]] = [(OrgLevel.LONDON, "LONDON")]
    for level in reversed(LEVELS_FINE_TO_COARSE[:-1]):
        for org_id in sorted(aggs.practices[level.value].dropna().astype(str).unique()):
            out.append((level, org_id))
    return out


def _coarse_first(cohorts: list[PracticeAggregates]) -> list[tuple[OrgLevel, str, PracticeAggregates]]:
    """(level, organisation, cohort) of every claimed cohort's organisations, all London pages first, then every
    ICS page, and so on down to practices; within a level, cohorts in the order they were counted."""
    per_cohort = [[(level, org_id, aggs) for level, org_id in organisations(aggs)] for aggs in cohorts]
    depth = {level: i for i, level in enumerate([OrgLevel.LONDON, *reversed(LEVELS_FINE_TO_COARSE[:-1])])}
    merged = [item for items in per_cohort for item in items]
    return sorted(merged, key=lambda item: depth[item[0]])  # stable: per-cohort order kept within a level


class Warmer:
    """One daemon thread per worker process; cheap when nothing changed (one query per poll)."""

    def __init__(self, st, poll_seconds: float = POLL_SECONDS) -> None:
        self.st = st
        self.poll = poll_seconds
        self._stop = threading.Event()
        self._seen_run: str | None = None
        self.thread = threading.Thread(target=self._loop, name="dashboard-warm", daemon=True)
        #: Set after each completed pass (tests and the benchmark wait on it).
        self.passes = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _current_run(self) -> str | None:
        import duckdb

        path = self.st.settings.store_path
        if not path.exists():
            return None
        con = duckdb.connect(str(path), read_only=True)
        try:
            return latest_run(con)[0]
        except CarecommonsError:
            return None
        finally:
            con.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_id = self._current_run()
                if run_id is not None:
                    new_run = run_id != self._seen_run
                    if new_run:
                        self.st.opt_out_counts.everyone()  # the IG lead's figures, ~0.4 s at 1 M, off the page
                    # a new run: count every planning cohort and warm it; otherwise only the cohorts this
                    # worker already holds (refreshed by requests, e.g. after an opt-out: a new fingerprint is
                    # a new claim), so polling never starts counts nobody asked for
                    if self.warm_once(run_id, count=new_run) or new_run:
                        # What a pass keeps (cohort frames and grids, pages) lives as long as the run: out of the
                        # collector's reach, so a full collection inside a request does not walk it (150-160 ms at
                        # 1 M). The worklist warm-up froze the start-up objects the same way (web.app).
                        gc.freeze()
                    self._seen_run = run_id
            except Exception as err:  # never take the worker down; try again at the next poll
                log.warning("dashboard warm-up failed: %s: %s", type(err).__name__, err)
            self._stop.wait(self.poll)

    def warm_once(self, run_id: str, count: bool = True) -> int:
        """Count every planning cohort (`count`; kept in this worker's memory) or take the ones it holds; build
        missing dashboards if this worker wins the claim for (run, cohort). Returns how many it built."""
        st = self.st
        started = time.monotonic()
        cohorts: dict[str, PracticeAggregates] = {}
        if count:
            for requester in planning_requesters(st.session_factory):
                try:
                    aggs = st.aggregates.get(requester, st.session_factory)
                except CarecommonsError:  # no agreement in force, etc.: nothing to warm for this account
                    continue
                cohorts.setdefault(aggs.cohort, aggs)
        else:
            for aggs in st.aggregates.current():
                if aggs.run_id == run_id:
                    cohorts.setdefault(aggs.cohort, aggs)
        for aggs in cohorts.values():
            if hasattr(aggs, "memo"):
                # Every worker, claim or not: its first build of a page nobody has viewed (any definition) should
                # not also derive the cohort's frames (~0.3-0.5 CPU s at a million patients).
                dashboards.prime(aggs)
        claimed = [
            aggs
            for cohort, aggs in cohorts.items()
            if st.shared is not None and st.shared.claim(f"warm\x1f{run_id}\x1f{cohort}", os.getpid())
        ]
        built = 0
        from carecommons.web.routes.dashboards import cached_dashboard

        # Level by level across every claimed cohort (London pages of every cohort, then ICSs, ..., practices
        # last): at a million patients one cohort's ~1,400 practice pages take many minutes, and the coarse
        # pages of the other cohorts, which people open most, should not wait behind them.
        duty = getattr(st.settings, "warm_fine_duty", 1.0)
        for level, org_id, aggs in _coarse_first(claimed):
            if self._stop.is_set():
                return built
            key = dashboard_key(aggs, level, org_id, dashboards.DEFAULT_DEFINITION)
            if st.shared.has_dashboard(key):
                continue
            began = time.monotonic()
            try:
                cached_dashboard(st, aggs, level, org_id, dashboards.DEFAULT_DEFINITION, draw=True)
                built += 1
            except CarecommonsError as err:
                log.info("warm-up skipped %s %s: %s", level.value, org_id, err)
            if level in FINE_LEVELS and duty < 1.0:
                # Yield the core to requests: pause so fine pages use at most `duty` of one core.
                self._stop.wait((time.monotonic() - began) * (1.0 / duty - 1.0))
        if claimed:
            st.shared.trim_dashboards()
        self.passes += 1
        if built:
            log.info(
                "dashboard warm-up: %d cohort(s) counted, %d dashboard(s) built in %.1f s",
                len(cohorts),
                built,
                time.monotonic() - started,
            )
        return built
