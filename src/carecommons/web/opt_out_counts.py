"""Type 1 opt-outs coded in the record, counted per practice, for the information-governance lead's page.

Why a module of its own: the figures count everyone registered, opted out or not, so they never needed a
planning cohort's count of the engine's results, yet the page used to take them from one (`web.aggregates`),
and at a million patients its first view waited ~19 s for that count. Counted here once per store file and
index date per process (~0.4 s at 1 M; the start-up warm-up pays it), then restricted per request to the
practices the requester's data-sharing agreements cover. Nothing here is disclosure-controlled: the page
publishes through `web.disclosure`.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from carecommons.core.errors import NotFound
from carecommons.governance.optouts import DEFAULT_OPT_OUT_CONFIG
from carecommons.web.aggregates import latest_run

#: Type 1 opt-out codes come from governance's configuration (codes are configuration, not constants).
TYPE1_DISSENT = sorted(DEFAULT_OPT_OUT_CONFIG.all_dissent_codes)
TYPE1_WITHDRAWAL = sorted(DEFAULT_OPT_OUT_CONFIG.type1_withdrawal_codes)


@dataclass(frozen=True)
class OptOutCounts:
    """Registered patients and Type 1 opt-outs per practice on the newest run's latest index date."""

    index_date: dt.date
    practices: pd.DataFrame  # practice_id, borough, icb
    opt_outs: pd.DataFrame  # practice_id, opted_out, registered

    def restricted(self, practices: tuple[str, ...] | list[str]) -> OptOutCounts:
        """Only the practices an agreement covers: others do not appear at all, not even as zeros."""
        keep = set(practices)
        return OptOutCounts(
            self.index_date,
            self.practices[self.practices["practice_id"].isin(keep)].reset_index(drop=True),
            self.opt_outs[self.opt_outs["practice_id"].isin(keep)].reset_index(drop=True),
        )


def count_opt_outs(con: duckdb.DuckDBPyConnection, index_date: dt.date) -> pd.DataFrame:
    """practice_id, opted_out, registered: patients registered and alive on `index_date` (their latest
    registration if two overlap) and those whose latest Type 1 code by then is a dissent (a withdrawal after
    it, or on the same date before it, does not count; as governance.cohort decides)."""
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
        FROM reg LEFT JOIN latest USING (patient_id) GROUP BY ALL ORDER BY reg.practice_id
        """,
        {"idx": index_date, "opt": TYPE1_DISSENT, "wd": TYPE1_WITHDRAWAL},
    ).df()


def _latest_index_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The newest finished run's latest index date: the date every planning figure is shown at."""
    return max(latest_run(con)[2])


class OptOutCountCache:
    """The whole store's counts, made once per store file per process and shared by every requester (each
    sees only their covered practices). One entry: a new extract or run replaces it."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = Path(store_path)
        self._lock = threading.Lock()
        self._entry: tuple[float, OptOutCounts] | None = None

    def get(self, covered: tuple[str, ...]) -> OptOutCounts:
        """The counts for `covered` practices (already checked against the requester's agreements)."""
        return self.everyone().restricted(covered)

    def everyone(self) -> OptOutCounts:
        """Every practice's counts (for the warm-up and for `get`; never shown unrestricted)."""
        if not self.store_path.exists():
            raise NotFound(
                "record store", "there is no record store yet", "run `carecommons demo` (or synth, ingest and run)"
            )
        mtime = self.store_path.stat().st_mtime
        with self._lock:  # one count at a time: a second request waits for the first instead of repeating it
            if self._entry is not None and self._entry[0] == mtime:
                return self._entry[1]
            con = duckdb.connect(str(self.store_path), read_only=True)
            try:
                when = _latest_index_date(con)
                practices = con.execute("SELECT practice_id, borough, icb FROM practices ORDER BY practice_id").df()
                counts = OptOutCounts(when, practices, count_opt_outs(con, when))
            finally:
                con.close()
            self._entry = (mtime, counts)
            return counts
