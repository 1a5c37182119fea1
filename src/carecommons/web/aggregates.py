"""Practice-level counts of the engine's results for one planning cohort, cached per (cohort, snapshot).

Why: the dashboards must show the shared definitions (carecommons.definitions, evaluated by the engine), never
definitions of their own. `carecommons run` writes per-patient results (results_patient) and the population
at each index date (results_population). This module counts those rows per practice for exactly the patients
governance allows the requester (governance.cohort.allowed_patients: Type 1 and National Data Opt-outs and
platform choices removed), once per cohort and results snapshot. Every level above a practice is a sum of
practices, so one pass serves every page, level and breakdown; pages then filter, sum and publish small frames.

The engine's own results_aggregate table is computed over everyone and is never read here. Nothing here is
disclosure-controlled: callers publish through `web.disclosure` before anything is shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from carecommons.core.errors import AccessDenied, NotFound
from carecommons.core.orgs import LEVELS_FINE_TO_COARSE, OrgLevel
from carecommons.definitions.library import load_library
from carecommons.governance.agreements import Flow, covered_practices
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.optouts import DEFAULT_OPT_OUT_CONFIG
from carecommons.governance.purposes import Purpose, Requester

#: Type 1 opt-out codes come from governance's configuration (codes are configuration, not constants).
TYPE1_DISSENT = sorted(DEFAULT_OPT_OUT_CONFIG.all_dissent_codes)
TYPE1_WITHDRAWAL = sorted(DEFAULT_OPT_OUT_CONFIG.type1_withdrawal_codes)

#: Demographic breakdowns kept per practice at the latest index date (results_population columns).
BREAKDOWN_COLUMNS = ("age_band", "sex", "ethnicity_6", "imd_quintile")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefinitionInfo:
    """What a page shows so an analyst can cite a figure: the library's id, version, title and kind."""

    id: str
    version: str
    title: str
    kind: str  # "register" or "indicator"
    description: str = ""
    group: str = ""


@dataclass(frozen=True)
class PracticeAggregates:
    """Unsuppressed counts per practice from one engine run; the single source for every planning page.

    ``counts``: practice_id, index_date, definition_id, denominator, numerator, exclusions (every index date;
    for a register the denominator is filled from ``population`` by the readers).
    ``population``: practice_id, index_date, denominator (registered, alive, allowed).
    ``strata``: practice_id, definition_id (None = population), grouping ("age_sex", "ethnicity_6" or
    "imd_quintile"), age_band, sex, ethnicity_6, imd_quintile (the grouping's columns set), denominator,
    numerator, exclusions, at the latest index date.
    """

    run_id: str
    snapshot_id: str
    index_date: dt.date
    index_dates: list[dt.date]
    definitions: dict[str, DefinitionInfo]
    practices: pd.DataFrame  # practice_id, name, pcn_id, pcn_name, borough, icb, london
    population: pd.DataFrame
    counts: pd.DataFrame
    strata: pd.DataFrame
    opt_outs: pd.DataFrame  # practice_id, opted_out, registered (Type 1, coded in the record)
    #: Fingerprint of what these counts were made from: the run, its snapshot, the exact set of allowed
    #: patients and the covered practices. Two cohorts with the same fingerprint get the same pages, so
    #: published dashboards are shared (across workers) under it; an opt-out changes it.
    cohort: str = ""
    #: Frames derived once per object (split by definition, demographic labels filled) so each page only
    #: filters small pieces; see `dashboards._memo`. Never compared or shown.
    memo: dict = field(default_factory=dict, compare=False, repr=False)


def restrict(aggs: PracticeAggregates, practices: tuple[str, ...] | list[str]) -> PracticeAggregates:
    """Only the practices a requester's data-sharing agreements cover: others do not appear at all (not even as
    zeros), so an analyst cannot drill into an organisation whose data was never shared with them."""
    keep = set(practices)

    def only(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["practice_id"].isin(keep)].reset_index(drop=True)

    return PracticeAggregates(
        aggs.run_id,
        aggs.snapshot_id,
        aggs.index_date,
        aggs.index_dates,
        aggs.definitions,
        only(aggs.practices),
        only(aggs.population),
        only(aggs.counts),
        only(aggs.strata),
        only(aggs.opt_outs),
        _digest(aggs.cohort, *sorted(keep)),
    )


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _cohort_fingerprint(con: duckdb.DuckDBPyConnection, run_id: str, snap: str, allowed_table: str | None) -> str:
    """Run, snapshot and the allowed patient set (count and two order-free hashes of the ids): cheap even at
    millions of patients, and any added or removed patient (an opt-out) changes it."""
    if allowed_table is None:
        return _digest(run_id, snap, "everyone")
    n, s, x = con.execute(
        f"SELECT count(*), coalesce(sum(hash(patient_id)::HUGEINT), 0), coalesce(bit_xor(hash(patient_id)), 0) "
        f"FROM {allowed_table}"
    ).fetchone()
    return _digest(run_id, snap, n, s, x)


def practice_ids(aggs: PracticeAggregates, level: OrgLevel, org_id: str) -> pd.Index:
    """Practices under an organisation; raises NotFound for an unknown org so the page can say so."""
    p = aggs.practices
    if level is OrgLevel.LONDON:
        return pd.Index(p["practice_id"])
    ids = p.loc[p[level.value] == org_id, "practice_id"]
    if ids.empty:
        raise NotFound(level.label, f"no {level.label} with code '{org_id}' in the store", "pick one from the list")
    return pd.Index(ids)


def child_level(level: OrgLevel) -> OrgLevel | None:
    i = LEVELS_FINE_TO_COARSE.index(level)
    return LEVELS_FINE_TO_COARSE[i - 1] if i > 0 else None


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, str, list[dt.date], dict[str, str], dict[str, str]]:
    """(run_id, snapshot_id, index dates, id -> version, id -> kind) of the newest engine run."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'results_runs'").fetchone()[
        0
    ]
    row = (
        con.execute(
            "SELECT run_id, snapshot_id, index_dates, definitions, kinds FROM results_runs "
            "WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
        if exists
        else None
    )
    if row is None:
        raise NotFound(
            "results",
            "the shared definitions have not been run over this record store",
            "run `carecommons run` (or `carecommons demo`) first",
        )
    run_id, snap, dates, versions, kinds = row
    return run_id, snap, [dt.date.fromisoformat(d) for d in json.loads(dates)], json.loads(versions), json.loads(kinds)


def _definitions(versions: dict[str, str], kinds: dict[str, str]) -> dict[str, DefinitionInfo]:
    """Registers first, then indicators, in library order; titles from the library (the run's own version)."""
    library = load_library()
    out: dict[str, DefinitionInfo] = {}
    known = {d.id: d for d in library.all_definitions()}
    for wanted in ("register", "indicator"):
        ids = [i for i in known if i in versions] + sorted(i for i in versions if i not in known)
        for def_id in ids:
            if kinds.get(def_id) != wanted:
                continue
            d = known.get(def_id)
            out[def_id] = DefinitionInfo(
                def_id,
                versions[def_id],
                d.title if d else def_id,
                wanted,
                d.description if d else "",
                d.group if d else "",
            )
    return out


def compute(con: duckdb.DuckDBPyConnection, allowed_table: str | None = None) -> PracticeAggregates:
    """Count the newest run's results per practice. `allowed_table` (one column patient_id) restricts the
    count to permitted patients; without it every patient counts (only for tests and platform jobs)."""
    run_id, snap, dates, versions, kinds = latest_run(con)
    defs = _definitions(versions, kinds)
    latest = max(dates)
    join = f"JOIN {allowed_table} AS a ON a.patient_id = p.patient_id" if allowed_table else ""
    # Only the columns counted below: the run and snapshot ids (long strings) and the age made this 20 M-row
    # table at a million patients cost ~1.8 CPU s more to materialise.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE web_pop AS
        SELECT p.patient_id, p.practice_id, p.index_date, p.age_band, p.sex, p.ethnicity_6, p.imd_quintile
        FROM results_population AS p {join}
        WHERE p.snapshot_id = $snap AND p.index_date IN (SELECT UNNEST($dates::DATE[]))""",
        {"snap": snap, "dates": dates},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE web_res AS
        SELECT p.practice_id, p.index_date, r.definition_id, r.den, r.num, r.exc,
               p.age_band, p.sex, p.ethnicity_6, p.imd_quintile
        FROM results_patient AS r
        JOIN web_pop AS p ON p.patient_id = r.patient_id AND p.index_date = r.index_date
        WHERE r.snapshot_id = $snap AND r.definition_id IN (SELECT UNNEST($ids::VARCHAR[]))""",
        {"snap": snap, "ids": list(defs)},
    )
    population = con.execute(
        "SELECT practice_id, index_date, count(*)::BIGINT AS denominator FROM web_pop GROUP BY ALL"
    ).df()
    counts = con.execute(
        """SELECT practice_id, index_date, definition_id, count(*) FILTER (WHERE den)::BIGINT AS denominator,
                  count(*) FILTER (WHERE num)::BIGINT AS numerator, count(*) FILTER (WHERE exc)::BIGINT AS exclusions
           FROM web_res GROUP BY ALL"""
    ).df()
    sets = "(practice_id, {d} age_band, sex), (practice_id, {d} ethnicity_6), (practice_id, {d} imd_quintile)"
    grouping = (
        "CASE WHEN GROUPING(ethnicity_6) = 0 THEN 'ethnicity_6' WHEN GROUPING(imd_quintile) = 0 THEN 'imd_quintile' "
        "ELSE 'age_sex' END AS grouping"
    )
    strata_pop = con.execute(
        f"""SELECT practice_id, NULL::VARCHAR AS definition_id, {grouping}, age_band, sex, ethnicity_6, imd_quintile,
                   count(*)::BIGINT AS denominator, 0::BIGINT AS numerator, 0::BIGINT AS exclusions
            FROM web_pop WHERE index_date = $latest GROUP BY GROUPING SETS ({sets.format(d="")})""",
        {"latest": latest},
    ).df()
    strata_res = con.execute(
        f"""SELECT practice_id, definition_id, {grouping}, age_band, sex, ethnicity_6, imd_quintile,
                   count(*) FILTER (WHERE den)::BIGINT AS denominator,
                   count(*) FILTER (WHERE num)::BIGINT AS numerator,
                   count(*) FILTER (WHERE exc)::BIGINT AS exclusions
            FROM web_res WHERE index_date = $latest
            GROUP BY GROUPING SETS ({sets.format(d="definition_id,")})""",
        {"latest": latest},
    ).df()
    strata = pd.concat([strata_pop, strata_res], ignore_index=True)
    for df in (population, counts):  # plain dates, so pages compare them with the run's index dates
        df["index_date"] = pd.to_datetime(df["index_date"]).dt.date
    con.execute("DROP TABLE IF EXISTS web_res")
    con.execute("DROP TABLE IF EXISTS web_pop")
    opt_outs = _opt_outs(con, latest)
    practices = con.execute(
        "SELECT practice_id, coalesce(name, practice_id) AS name, pcn_id, coalesce(pcn_name, pcn_id) AS pcn_name, "
        "borough, icb FROM practices ORDER BY practice_id"
    ).df()
    practices["london"] = "LONDON"
    cohort = _cohort_fingerprint(con, run_id, snap, allowed_table)
    return PracticeAggregates(
        run_id, snap, latest, dates, defs, practices, population, counts, strata, opt_outs, cohort
    )


def _opt_outs(con: duckdb.DuckDBPyConnection, idx: dt.date) -> pd.DataFrame:
    """Type 1 opt-outs coded in the record per practice (for the information-governance page, not a definition)."""
    return con.execute(
        """
        WITH reg AS (
          SELECT r.patient_id, r.practice_id FROM registrations r JOIN patients p USING (patient_id)
          WHERE r.start_date <= $idx AND (r.end_date IS NULL OR r.end_date > $idx)
            AND (p.date_of_death IS NULL OR p.date_of_death > $idx)
          QUALIFY row_number() OVER (PARTITION BY r.patient_id ORDER BY r.start_date DESC) = 1
        ), latest AS (
          -- latest of dissent and withdrawal wins; on the same date dissent wins (as governance.cohort)
          SELECT patient_id, arg_max(list_contains($opt, code), (date, list_contains($opt, code))) AS dissent
          FROM events
          WHERE (list_contains($opt, code) OR list_contains($wd, code)) AND date <= $idx GROUP BY patient_id
        )
        SELECT reg.practice_id, count(*) FILTER (WHERE latest.dissent)::BIGINT AS opted_out,
               count(*)::BIGINT AS registered
        FROM reg LEFT JOIN latest USING (patient_id) GROUP BY ALL
        """,
        {"idx": idx, "opt": TYPE1_DISSENT, "wd": TYPE1_WITHDRAWAL},
    ).df()


class AggregateCache:
    """Holds PracticeAggregates per cohort, refreshed when the store file changes or the TTL passes.

    The count over results takes seconds at city scale, so only the first request for a cohort waits for it.
    After that a stale entry is served while one background thread recomputes it (stale-while-revalidate):
    nobody waits, and an opt-out or a new run shows within TTL plus one pass. If governance refuses the
    refresh (agreement ended, project expired) the entry is dropped, so the next request recomputes in the
    foreground and gets the refusal.
    """

    def __init__(self, store_path: Path, ttl_seconds: float = 60.0) -> None:
        self.store_path = Path(store_path)
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        # key -> (at, store mtime, value, fingerprint of the cohort before restriction to covered practices)
        self._entries: dict[tuple, tuple[float, float, PracticeAggregates, str]] = {}
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._refreshing: set[tuple] = set()

    def _compute(
        self,
        requester: Requester,
        session_factory,
        covered: tuple[str, ...],
        held: tuple[float, PracticeAggregates, str] | None = None,
    ) -> tuple[float, PracticeAggregates, str]:
        """(store mtime, aggregates, fingerprint of the unrestricted cohort). With `held` (a refresh of an entry
        this process has), the counts are reused when the store file and the allowed patients are unchanged:
        the allowed set and its fingerprint cost well under a second at 1 M patients, the counts over the
        engine's results many CPU seconds, and a refresh every TTL per cohort per worker saturated the CPU."""
        mtime = self.store_path.stat().st_mtime
        con = duckdb.connect(str(self.store_path), read_only=True)
        try:
            with session_factory() as session:
                table = allowed_patients(con, requester, session)
            if held is not None and held[0] == mtime:
                run_id, snap, *_rest = latest_run(con)
                base = _cohort_fingerprint(con, run_id, snap, table)
                if base == held[2]:
                    return mtime, held[1], base
            full = compute(con, table)
            return mtime, restrict(full, covered), full.cohort
        finally:
            con.close()

    def get(self, requester: Requester, session_factory) -> PracticeAggregates:
        """Aggregates over exactly the patients governance allows this requester for planning or research.

        Requesters whose purpose, project and covered practices are the same see the same cohort, so they
        share one entry; the purpose and agreement checks run on every call.
        """
        if not self.store_path.exists():
            raise NotFound(
                "record store",
                "there is no record store yet",
                "run `carecommons demo` (or synth, ingest and run) first",
            )
        if requester.purpose not in (Purpose.PLANNING, Purpose.RESEARCH):
            raise AccessDenied(
                "purpose",
                "population dashboards are for planning, not direct care",
                "sign in again and choose the planning purpose, if your role allows it",
            )
        flow = Flow.GP_TO_PLANNING if requester.purpose is Purpose.PLANNING else Flow.GP_TO_RESEARCH
        with session_factory() as session:
            covered = tuple(covered_practices(session, requester.org_id or "", requester.purpose, flow))
        if not covered:
            raise AccessDenied(
                "data-sharing agreement",
                f"no agreement in force shares GP data with your organisation for {requester.purpose.value}",
                "ask the information-governance lead to put a data-sharing agreement in place",
            )
        key = (requester.purpose, requester.project_id, covered)
        with self._lock:
            entry = self._entries.get(key)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        if entry is not None:
            at, mtime, value, _base = entry
            stale = time.monotonic() - at >= self.ttl or self.store_path.stat().st_mtime != mtime
            if stale:
                self._refresh_in_background(key, requester, session_factory, covered)
            return value
        with key_lock:  # one foreground computation per cohort; others wait for it
            entry = self._entries.get(key)
            if entry is not None:
                return entry[2]
            mtime, value, base = self._compute(requester, session_factory, covered)
            with self._lock:
                self._entries[key] = (time.monotonic(), mtime, value, base)
            return value

    def _refresh_in_background(
        self, key: tuple, requester: Requester, session_factory, covered: tuple[str, ...]
    ) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def run() -> None:
            try:
                with self._lock:
                    entry = self._entries.get(key)
                held = (entry[1], entry[2], entry[3]) if entry is not None else None
                mtime, value, base = self._compute(requester, session_factory, covered, held)
                with self._lock:
                    self._entries[key] = (time.monotonic(), mtime, value, base)
            except AccessDenied:
                with self._lock:
                    self._entries.pop(key, None)
            except Exception as err:  # keep serving the stale entry; the next stale hit tries again
                log.warning("background refresh of planning aggregates failed: %s", type(err).__name__)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=run, name="aggregate-refresh", daemon=True).start()

    def current(self) -> list[PracticeAggregates]:
        """The cohorts held now, as they are (no refresh, no governance check): for the background warm-up,
        which must not make counts nobody asked for."""
        with self._lock:
            return [value for _at, _mtime, value, _base in self._entries.values()]

    def invalidate(self) -> None:
        """Forget every cohort (e.g. after an agreement changes); the next request recomputes."""
        with self._lock:
            self._entries.clear()
