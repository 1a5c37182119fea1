"""What the worklist rules need from the store, summarised once per process: per patient and codelist, the
latest date and the latest reading.

Why: a practice's patients are spread over the whole events table (a store clustered by patient id orders
them by hashed id, not by practice), so the first worklist view of a practice read most of the table: at a
million patients ~30 M events for ~800 patients. The rules only ask, per patient and codelist, "when was it
last recorded?" and "what was the latest reading (the lowest on a tie)?", so one pass over the store at
start-up (in the background, `prepare`) answers them for every practice, and a view then looks its
population up in memory instead of scanning.

Exact, not approximate: the summary keeps, for each (patient, codelist), the latest date of any row and the
latest date with a value together with the lowest value recorded on that date. For an index date on or after
the latest date in the summary (today, for a store loaded from past extracts), every rule reaches the same
answer from these two rows as from all of the patient's rows: `max(date)` is the latest date, and the reading
ordered by date descending then value ascending is the latest valued row with its lowest value, within any
window. Earlier index dates, rules with other codelists, a writable store or a changed file use the scan.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import numpy as np

from carecommons.care.codes import ensure_codes

log = logging.getLogger(__name__)

_EPOCH = dt.date(1970, 1, 1)
_NO_DATE = np.iinfo(np.int32).min


@dataclass(frozen=True)
class RuleInputs:
    """The summary, as arrays sorted by patient id (one entry per patient and codelist they have rows in)."""

    stamp: tuple  # store files with modification time and size when it was read
    lists: tuple[str, ...]  # codelist ids; list_no indexes this
    valid_from: dt.date | None  # the latest date summarised: exact for index dates on or after it
    patient_id: np.ndarray  # int64, sorted
    list_no: np.ndarray  # int16
    last_day: np.ndarray  # int32 days since 1970-01-01: latest row of the codelist
    value_day: np.ndarray  # int32 days: latest row with a value, _NO_DATE if none
    value: np.ndarray  # float64: lowest value recorded on value_day (undefined without value_day)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.patient_id, self.list_no, self.last_day, self.value_day, self.value))

    def covers(self, lists: Iterable[str], index: dt.date) -> bool:
        """True when this summary answers the rules exactly: every codelist summarised, index on or after
        the latest summarised date (an empty summary answers any index date)."""
        return set(lists) <= set(self.lists) and (self.valid_from is None or index >= self.valid_from)

    def slice_rows(self, patient_ids: Iterable[int]) -> tuple[list[int], list[int], list[int], list[float | None]]:
        """Event-slice rows (patient_id, list_no, day, value) for these patients: per (patient, codelist) the
        latest reading when there is one, and a row without a value at the latest date when that is later
        than the reading or there is no reading (so `max(date)` and the latest reading both come out as from
        every row). Plain ints and floats: they cross into DuckDB as list parameters, cheaply."""
        wanted = np.unique(np.fromiter((int(p) for p in patient_ids), dtype=np.int64))
        lo = np.searchsorted(self.patient_id, wanted, side="left")
        hi = np.searchsorted(self.patient_id, wanted, side="right")
        sizes = hi - lo
        if not sizes.sum():
            return [], [], [], []
        # Positions lo..hi-1 of every wanted patient, without a Python loop over patients.
        starts = np.repeat(lo - np.cumsum(sizes) + sizes, sizes)
        at = starts + np.arange(int(sizes.sum()))
        pids, lnos = self.patient_id[at], self.list_no[at]
        last, vday, val = self.last_day[at], self.value_day[at], self.value[at]
        has = vday != _NO_DATE
        dated = ~has | (vday < last)  # the latest date is not the reading's: keep it as a row of its own
        out_pid = pids[dated].tolist() + pids[has].tolist()
        out_list = lnos[dated].tolist() + lnos[has].tolist()
        out_day = last[dated].tolist() + vday[has].tolist()
        out_value: list[float | None] = [None] * int(dated.sum()) + val[has].tolist()
        return out_pid, out_list, out_day, out_value


def store_stamp(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """(file, mtime, size) of the connection's database files, or None when the store may change under it
    (writable, in memory): only a read-only file stays as summarised."""
    if con.execute("SELECT current_setting('access_mode')").fetchone()[0] != "read_only":
        return None
    files = [path for _seq, _name, path in con.execute("PRAGMA database_list").fetchall() if path]
    if not files:
        return None
    try:
        return tuple((f, os.stat(f).st_mtime_ns, os.stat(f).st_size) for f in files)
    except OSError:
        return None


def summarise(con: duckdb.DuckDBPyConnection, lists: Iterable[str]) -> RuleInputs | None:
    """One pass over the store's events and vaccinations for these codelists (None on a store that may change).

    Seconds at a million patients: run it off the request path (`prepare`)."""
    stamp = store_stamp(con)
    if stamp is None:
        return None
    names = tuple(sorted(set(lists)))
    codes = ensure_codes(con, names)
    got = con.execute(
        f"""
        WITH ev AS MATERIALIZED (
            SELECT e.patient_id, c.list_id, e.date, e.value
            FROM events e JOIN {codes} c ON c.code = e.code
            WHERE list_contains($names, c.list_id)
            UNION ALL
            SELECT v.patient_id, c.list_id, v.date, NULL::DOUBLE
            FROM vaccinations v JOIN {codes} c ON c.code = v.code
            WHERE list_contains($names, c.list_id)
        ),
        latest AS (
            SELECT patient_id, list_id, max(date) AS last_date,
                   max(date) FILTER (WHERE value IS NOT NULL) AS value_date
            FROM ev GROUP BY patient_id, list_id
        ),
        reading AS (
            SELECT ev.patient_id, ev.list_id, min(ev.value) AS value
            FROM ev JOIN latest l
              ON l.patient_id = ev.patient_id AND l.list_id = ev.list_id AND ev.date = l.value_date
            WHERE ev.value IS NOT NULL
            GROUP BY ev.patient_id, ev.list_id
        )
        SELECT l.patient_id::BIGINT AS patient_id,
               (list_position($names, l.list_id) - 1)::SMALLINT AS list_no,
               (l.last_date - DATE '1970-01-01')::INTEGER AS last_day,
               coalesce((l.value_date - DATE '1970-01-01')::INTEGER, {_NO_DATE}) AS value_day,
               coalesce(r.value, 0)::DOUBLE AS value
        FROM latest l LEFT JOIN reading r ON r.patient_id = l.patient_id AND r.list_id = l.list_id
        ORDER BY l.patient_id, list_no
        """,
        {"names": list(names)},
    ).fetchnumpy()
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in got.items()}
    last = arrays["last_day"].astype(np.int32)
    return RuleInputs(
        stamp=stamp,
        lists=names,
        valid_from=(_EPOCH + dt.timedelta(days=int(last.max()))) if len(last) else None,
        patient_id=arrays["patient_id"].astype(np.int64),
        list_no=arrays["list_no"].astype(np.int16),
        last_day=last,
        value_day=arrays["value_day"].astype(np.int32),
        value=arrays["value"].astype(np.float64),
    )


_current: RuleInputs | None = None
_lock = threading.Lock()  # one summary built at a time per process


def current(con: duckdb.DuckDBPyConnection) -> RuleInputs | None:
    """This process's summary if it was made from the store this connection has open, unchanged since."""
    held = _current
    if held is None:
        return None
    stamp = store_stamp(con)
    return held if stamp is not None and stamp == held.stamp else None


def prepare(con: duckdb.DuckDBPyConnection, lists: Iterable[str]) -> RuleInputs | None:
    """Make this process's summary for the connection's store unless it already has an up-to-date one.

    Called in the background (the web app's warm-up, after start-up and when the store file changes); worklist
    views use the scan until it is ready. Holds only the latest store's summary."""
    global _current
    names = set(lists)
    with _lock:
        held = current(con)
        if held is not None and names <= set(held.lists):
            return held
        made = summarise(con, names)
        if made is not None:
            _current = made
            log.info(
                "worklist rule inputs: %d patient-codelist entries (%.0f MiB) for %d codelists",
                len(made.patient_id),
                made.nbytes / 2**20,
                len(made.lists),
            )
        return made


def forget() -> None:
    """Drop this process's summary (tests; a store replaced under the same name is caught by its stamp)."""
    global _current
    with _lock:
        _current = None
