"""Practice-level aggregates computed once per store and rolled up to PCN, borough, ICS and London.

Why practice level: every higher level is a sum of practices, so one pass over the events (the expensive
part, ~1 billion rows for London) serves every dashboard page; pages then only filter and sum small frames
(about 1,200 practices x breakdowns) and render in milliseconds. The pass runs over exactly the patients
governance allows for planning (opt-outs removed) and is cached per store file for `ttl_seconds`, so an
opt-out takes effect within that time.

Nothing here is disclosure-controlled: callers publish through `web.disclosure` before showing anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from carecommons.core.errors import AccessDenied, NotFound
from carecommons.core.orgs import LEVELS_FINE_TO_COARSE, OrgLevel
from carecommons.governance.agreements import Flow, covered_practices
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.optouts import DEFAULT_OPT_OUT_CONFIG
from carecommons.governance.purposes import Purpose, Requester
from carecommons.web.measures import INDICATORS, REGISTERS, codelist

#: Type 1 opt-out codes come from governance's configuration (codes are configuration, not constants).
TYPE1_DISSENT = sorted(DEFAULT_OPT_OUT_CONFIG.all_dissent_codes)
TYPE1_WITHDRAWAL = sorted(DEFAULT_OPT_OUT_CONFIG.type1_withdrawal_codes)

TREND_MONTHS = 24

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PracticeAggregates:
    """Unsuppressed counts per practice; the single source for every planning page."""

    index_date: dt.date
    practices: pd.DataFrame  # practice_id, name, pcn_id, pcn_name, borough, icb
    population: pd.DataFrame  # practice_id, imd_quintile, ethnicity, denominator
    registers: pd.DataFrame  # practice_id, imd_quintile, ethnicity, register_id, numerator
    indicators: pd.DataFrame  # practice_id, indicator_id, numerator, denominator
    incidence: pd.DataFrame  # practice_id, register_id, month, count (first-ever code in month)
    opt_outs: pd.DataFrame  # practice_id, opted_out, registered (Type 1, coded in the record)
    age_sex: pd.DataFrame  # practice_id, band (ESP 2013 0-18), sex (F/M), denominator
    age_sex_registers: pd.DataFrame  # practice_id, register_id, band, sex, numerator


def restrict(aggs: PracticeAggregates, practices: tuple[str, ...] | list[str]) -> PracticeAggregates:
    """Only the practices a requester's data-sharing agreements cover: others do not appear at all (not even as
    zeros), so an analyst cannot drill into an organisation whose data was never shared with them."""
    keep = set(practices)

    def only(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["practice_id"].isin(keep)].reset_index(drop=True)

    return PracticeAggregates(
        aggs.index_date,
        only(aggs.practices),
        only(aggs.population),
        only(aggs.registers),
        only(aggs.indicators),
        only(aggs.incidence),
        only(aggs.opt_outs),
        only(aggs.age_sex),
        only(aggs.age_sex_registers),
    )


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


def compute(con: duckdb.DuckDBPyConnection, allowed_table: str | None = None) -> PracticeAggregates:
    """One pass over the record store. `allowed_table` (one column patient_id) restricts to permitted patients."""
    idx = con.execute("SELECT least(coalesce(max(date), current_date), current_date) FROM events").fetchone()[0]
    codes = [(r.id, c, r.min_age) for r in REGISTERS for c in codelist(r.codelist).codes]
    con.execute("CREATE OR REPLACE TEMP TABLE web_register_codes (register_id VARCHAR, code VARCHAR, min_age INT)")
    con.executemany("INSERT INTO web_register_codes VALUES (?, ?, ?)", codes)
    icodes = [(i.id, c) for i in INDICATORS for c in codelist(i.codelist).codes]
    con.execute("CREATE OR REPLACE TEMP TABLE web_indicator_codes (indicator_id VARCHAR, code VARCHAR)")
    con.executemany("INSERT INTO web_indicator_codes VALUES (?, ?)", icodes)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE web_indicators (indicator_id VARCHAR, register_id VARCHAR, months INT, max_value DOUBLE)"
    )
    con.executemany(
        "INSERT INTO web_indicators VALUES (?, ?, ?, ?)",
        [(i.id, i.register_id, i.months, i.max_value) for i in INDICATORS],
    )
    allowed = f"AND p.patient_id IN (SELECT patient_id FROM {allowed_table})" if allowed_table else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE web_pop AS
        SELECT r.patient_id, r.practice_id,
               CASE WHEN p.imd_decile IS NULL THEN NULL ELSE CAST((p.imd_decile + 1) // 2 AS INTEGER) END AS imd_quintile,
               coalesce(p.ethnicity_6, 'Not recorded') AS ethnicity,
               date_sub('year', p.date_of_birth, $idx) AS age
        FROM registrations r JOIN patients p ON p.patient_id = r.patient_id
        WHERE r.start_date <= $idx AND (r.end_date IS NULL OR r.end_date > $idx)
          AND (p.date_of_death IS NULL OR p.date_of_death > $idx) {allowed}
        QUALIFY row_number() OVER (PARTITION BY r.patient_id ORDER BY r.start_date DESC) = 1
        """,
        {"idx": idx},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE web_reg AS
        SELECT e.patient_id, c.register_id, min(e.date) AS first_date
        FROM events e
        JOIN web_register_codes c ON c.code = e.code
        JOIN web_pop p ON p.patient_id = e.patient_id
        WHERE e.date <= $idx AND p.age >= c.min_age
        GROUP BY ALL
        """,
        {"idx": idx},
    )
    population = con.execute(
        "SELECT practice_id, imd_quintile, ethnicity, count(*)::BIGINT AS denominator FROM web_pop GROUP BY ALL"
    ).df()
    registers = con.execute(
        """SELECT p.practice_id, p.imd_quintile, p.ethnicity, r.register_id, count(*)::BIGINT AS numerator
           FROM web_reg r JOIN web_pop p USING (patient_id) GROUP BY ALL"""
    ).df()
    indicators = con.execute(
        """
        WITH latest AS (
          SELECT e.patient_id, ic.indicator_id, arg_max(e.value, e.date) AS value
          FROM events e JOIN web_indicator_codes ic ON ic.code = e.code
          JOIN web_indicators i ON i.indicator_id = ic.indicator_id
          WHERE e.date <= $idx AND e.date > $idx - to_months(i.months)
          GROUP BY ALL
        )
        SELECT p.practice_id, i.indicator_id,
               count(*) FILTER (WHERE l.patient_id IS NOT NULL
                                AND (i.max_value IS NULL OR l.value <= i.max_value))::BIGINT AS numerator,
               count(*)::BIGINT AS denominator
        FROM web_indicators i
        JOIN web_reg r ON r.register_id = i.register_id
        JOIN web_pop p ON p.patient_id = r.patient_id
        LEFT JOIN latest l ON l.patient_id = r.patient_id AND l.indicator_id = i.indicator_id
        GROUP BY ALL
        """,
        {"idx": idx},
    ).df()
    incidence = con.execute(
        """SELECT p.practice_id, r.register_id, date_trunc('month', r.first_date)::DATE AS month,
                  count(*)::BIGINT AS count
           FROM web_reg r JOIN web_pop p USING (patient_id)
           WHERE r.first_date > date_trunc('month', $idx::DATE) - to_months($n)
             AND r.first_date < date_trunc('month', $idx::DATE)
           GROUP BY ALL""",
        {"idx": idx, "n": TREND_MONTHS},
    ).df()
    opt_outs = con.execute(
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
    # Strata for age-sex standardisation (ESP 2013 five-year bands to 90+); only F and M have a standard.
    age_sex = con.execute(
        """SELECT w.practice_id, least(w.age // 5, 18)::INTEGER AS band, p.sex, count(*)::BIGINT AS denominator
           FROM web_pop w JOIN patients p USING (patient_id) WHERE p.sex IN ('F', 'M') GROUP BY ALL"""
    ).df()
    age_sex_registers = con.execute(
        """SELECT w.practice_id, r.register_id, least(w.age // 5, 18)::INTEGER AS band, p.sex,
                  count(*)::BIGINT AS numerator
           FROM web_reg r JOIN web_pop w USING (patient_id) JOIN patients p USING (patient_id)
           WHERE p.sex IN ('F', 'M') GROUP BY ALL"""
    ).df()
    practices = con.execute(
        "SELECT practice_id, coalesce(name, practice_id) AS name, pcn_id, coalesce(pcn_name, pcn_id) AS pcn_name, "
        "borough, icb FROM practices ORDER BY practice_id"
    ).df()
    practices["london"] = "LONDON"
    return PracticeAggregates(
        idx, practices, population, registers, indicators, incidence, opt_outs, age_sex, age_sex_registers
    )


class AggregateCache:
    """Holds PracticeAggregates per cohort, refreshed when the store file changes or the TTL passes.

    The pass over the store takes seconds at city scale (about 15 s for 1 M patients on a loaded 2-core
    machine), so only the first request for a cohort waits for it. After that a stale entry is served while
    one background thread recomputes it (stale-while-revalidate): nobody waits, and an opt-out or a new load
    shows within TTL plus one pass. If governance refuses the refresh (agreement ended, project expired) the
    entry is dropped, so the next request recomputes in the foreground and gets the refusal.
    """

    def __init__(self, store_path: Path, ttl_seconds: float = 60.0) -> None:
        self.store_path = Path(store_path)
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, float, PracticeAggregates]] = {}  # key -> (at, mtime, value)
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._refreshing: set[tuple] = set()

    def _compute(
        self, requester: Requester, session_factory, covered: tuple[str, ...]
    ) -> tuple[float, PracticeAggregates]:
        mtime = self.store_path.stat().st_mtime
        con = duckdb.connect(str(self.store_path), read_only=True)
        try:
            with session_factory() as session:
                table = allowed_patients(con, requester, session)
            return mtime, restrict(compute(con, table), covered)
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
                "run `carecommons synth` and `carecommons ingest` (or `make demo`) first",
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
            at, mtime, value = entry
            stale = time.monotonic() - at >= self.ttl or self.store_path.stat().st_mtime != mtime
            if stale:
                self._refresh_in_background(key, requester, session_factory, covered)
            return value
        with key_lock:  # one foreground computation per cohort; others wait for it
            entry = self._entries.get(key)
            if entry is not None:
                return entry[2]
            mtime, value = self._compute(requester, session_factory, covered)
            with self._lock:
                self._entries[key] = (time.monotonic(), mtime, value)
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
                mtime, value = self._compute(requester, session_factory, covered)
                with self._lock:
                    self._entries[key] = (time.monotonic(), mtime, value)
            except AccessDenied:
                with self._lock:
                    self._entries.pop(key, None)
            except Exception as err:  # keep serving the stale entry; the next stale hit tries again
                log.warning("background refresh of planning aggregates failed: %s", type(err).__name__)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=run, name="aggregate-refresh", daemon=True).start()

    def invalidate(self) -> None:
        """Forget every cohort (e.g. after an agreement changes); the next request recomputes."""
        with self._lock:
            self._entries.clear()
