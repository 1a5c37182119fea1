"""Practice-level counts of the engine's results for one planning cohort, cached per (cohort, snapshot).

Why: the dashboards must show the shared definitions (carecommons.definitions, evaluated by the engine), never
definitions of their own. `carecommons run` writes per-patient results (results_patient) and the population
at each index date (results_population). This module counts those rows per practice for exactly the patients
governance allows the requester (governance.cohort.allowed_patients: Type 1 and National Data Opt-outs and
platform choices removed), once per cohort and results snapshot. Every level above a practice is a sum of
practices, so one pass serves every page, level and breakdown; pages then filter, sum and publish small frames.

A cohort that leaves out few patients (a London-wide planning cohort: only the opt-outs) is counted as
everyone's counts, made once per run per process (`EveryoneCache`), less the left-out patients' counts: the
same frames as the direct count at an eighth of its cost (which at a million patients is ~20 CPU s per
cohort per worker). Cohorts that leave out most of London are counted directly, as before.

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
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from carecommons.core.errors import AccessDenied, NotFound
from carecommons.core.orgs import LEVELS_FINE_TO_COARSE, OrgLevel
from carecommons.definitions.library import load_library
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.purposes import Requester
from carecommons.web.planning_access import covered_for_planning

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


#: The subtraction path is used while the excluded patients are at most this share of the run's population;
#: beyond it the direct count over the allowed patients reads no more rows than counting the excluded ones.
SUBTRACT_AT_MOST = 0.5
#: Everyone is counted (once per run per process, as costly as one direct count) only for a cohort leaving out
#: at most this share of the `patients` table, so a cohort near the line above does not pay for a count it
#: then cannot use; cohorts between the two shares subtract once another cohort has made the counts.
COUNT_EVERYONE_AT_MOST = 0.25

#: Group keys of each frame, in the order the frames are sorted by (so both paths return the same row order).
_KEYS = {
    "population": ("practice_id", "index_date"),
    "counts": ("practice_id", "index_date", "definition_id"),
    "strata_pop": ("practice_id", "definition_id", "grouping", "age_band", "sex", "ethnicity_6", "imd_quintile"),
    "strata_res": ("practice_id", "definition_id", "grouping", "age_band", "sex", "ethnicity_6", "imd_quintile"),
}
_VALUES = {
    "population": ("denominator",),
    "counts": ("denominator", "numerator", "exclusions"),
    "strata_pop": ("denominator", "numerator", "exclusions"),
    "strata_res": ("denominator", "numerator", "exclusions"),
}


@dataclass(frozen=True)
class RunInfo:
    """What every count of one run reads: its id, snapshot, index dates and definitions."""

    run_id: str
    snap: str
    dates: list[dt.date]
    defs: dict[str, DefinitionInfo]

    @property
    def latest(self) -> dt.date:
        return max(self.dates)


def _count_frames(
    con: duckdb.DuckDBPyConnection,
    run: RunInfo,
    only: str | None,
    with_n: bool,
    prefix: str = "web",
    patients: bool = False,
) -> tuple[dict[str, pd.DataFrame], np.ndarray | None]:
    """The four group-bys over the run's results of the patients in table `only` (None: everyone), sorted by
    their keys so every path returns the same row order.

    results_patient is also semi-joined to `only` before its join to the population (implied by that join,
    so the same rows): at 1 M patients, for ~30 k patients, that 22.7 M-row join fell from ~3 to under 1 CPU s
    (a borough's whole count 2.8 -> 1.3 CPU s), and a London-wide cohort costs the same as without it.
    `with_n` adds each group's row count `n`: a group exists whenever a row does, even with every count zero,
    so a subtraction must know when a group is emptied. index_date stays as DuckDB returns it (callers convert
    it once the frames are final). With `patients`, also the sorted distinct patient ids counted."""
    n = ", count(*)::BIGINT AS n" if with_n else ""
    join = f"JOIN {only} AS a ON a.patient_id = p.patient_id" if only else ""
    among = f"AND r.patient_id IN (SELECT patient_id FROM {only})" if only else ""
    pop, res = f"{prefix}_pop", f"{prefix}_res"
    # Only the columns counted below: the run and snapshot ids (long strings) and the age made this 20 M-row
    # table at a million patients cost ~1.8 CPU s more to materialise.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {pop} AS
        SELECT p.patient_id, p.practice_id, p.index_date, p.age_band, p.sex, p.ethnicity_6, p.imd_quintile
        FROM results_population AS p {join}
        WHERE p.snapshot_id = $snap AND p.index_date IN (SELECT UNNEST($dates::DATE[]))""",
        {"snap": run.snap, "dates": run.dates},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {res} AS
        SELECT p.practice_id, p.index_date, r.definition_id, r.den, r.num, r.exc,
               p.age_band, p.sex, p.ethnicity_6, p.imd_quintile
        FROM results_patient AS r
        JOIN {pop} AS p ON p.patient_id = r.patient_id AND p.index_date = r.index_date
        WHERE r.snapshot_id = $snap AND r.definition_id IN (SELECT UNNEST($ids::VARCHAR[])) {among}""",
        {"snap": run.snap, "ids": list(run.defs)},
    )
    order = {name: ", ".join(keys) for name, keys in _KEYS.items()}
    out = {}
    out["population"] = con.execute(
        f"SELECT practice_id, index_date, count(*)::BIGINT AS denominator{n} FROM {pop} GROUP BY ALL "
        f"ORDER BY {order['population']}"
    ).df()
    out["counts"] = con.execute(
        f"""SELECT practice_id, index_date, definition_id, count(*) FILTER (WHERE den)::BIGINT AS denominator,
                  count(*) FILTER (WHERE num)::BIGINT AS numerator,
                  count(*) FILTER (WHERE exc)::BIGINT AS exclusions{n}
           FROM {res} GROUP BY ALL ORDER BY {order["counts"]}"""
    ).df()
    sets = "(practice_id, {d} age_band, sex), (practice_id, {d} ethnicity_6), (practice_id, {d} imd_quintile)"
    grouping = (
        "CASE WHEN GROUPING(ethnicity_6) = 0 THEN 'ethnicity_6' WHEN GROUPING(imd_quintile) = 0 THEN 'imd_quintile' "
        "ELSE 'age_sex' END AS grouping"
    )
    out["strata_pop"] = con.execute(
        f"""SELECT practice_id, NULL::VARCHAR AS definition_id, {grouping}, age_band, sex, ethnicity_6, imd_quintile,
                   count(*)::BIGINT AS denominator, 0::BIGINT AS numerator, 0::BIGINT AS exclusions{n}
            FROM {pop} WHERE index_date = $latest GROUP BY GROUPING SETS ({sets.format(d="")})
            ORDER BY {order["strata_pop"]}""",
        {"latest": run.latest},
    ).df()
    out["strata_res"] = con.execute(
        f"""SELECT practice_id, definition_id, {grouping}, age_band, sex, ethnicity_6, imd_quintile,
                   count(*) FILTER (WHERE den)::BIGINT AS denominator,
                   count(*) FILTER (WHERE num)::BIGINT AS numerator,
                   count(*) FILTER (WHERE exc)::BIGINT AS exclusions{n}
            FROM {res} WHERE index_date = $latest
            GROUP BY GROUPING SETS ({sets.format(d="definition_id,")}) ORDER BY {order["strata_res"]}""",
        {"latest": run.latest},
    ).df()
    ids = None
    if patients:
        got = con.execute(f"SELECT DISTINCT patient_id FROM {pop} ORDER BY patient_id").fetchnumpy()["patient_id"]
        ids = np.asarray(got, dtype=np.int64)
    con.execute(f"DROP TABLE IF EXISTS {res}")
    con.execute(f"DROP TABLE IF EXISTS {pop}")
    return out, ids


@dataclass(frozen=True)
class EveryoneCounts:
    """Every patient's counts of one run (each group with its row count ``n``), and who they are: a cohort
    that leaves out few patients is counted as these minus the left-out patients' counts."""

    run_id: str
    snapshot_id: str
    #: Sorted distinct patient ids with a results_population row at the run's index dates.
    patients: np.ndarray
    #: population, counts, strata_pop, strata_res: as `compute` returns them plus ``n``, index_date unconverted.
    frames: dict[str, pd.DataFrame]


class EveryoneCache:
    """The everyone-counts of the newest runs, held per process and made at most once per run.

    Why per process: counting everyone costs as much as one cohort (~20 CPU s at 1 M patients), after which
    any cohort that leaves out few patients costs only the left-out patients' rows. The frames are
    unsuppressed practice counts, which web.shared keeps out of the shared file by rule, so every worker
    makes its own once per run. Concurrent requests for the same run wait for one count.
    """

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], EveryoneCounts] = OrderedDict()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        #: How many runs were counted and how many cohorts were counted by subtraction (for tests and benches).
        self.counted = 0
        self.subtracted = 0

    def peek(self, run_id: str, snapshot_id: str) -> EveryoneCounts | None:
        """The held counts of this run, or None (never counts)."""
        with self._lock:
            return self._entries.get((run_id, snapshot_id))

    def get(self, con: duckdb.DuckDBPyConnection, run: RunInfo) -> EveryoneCounts:
        """The counts of `run`, counted over `con` if this process does not hold them yet."""
        key = (run.run_id, run.snap)
        with self._lock:
            held = self._entries.get(key)
            if held is not None:
                self._entries.move_to_end(key)
                return held
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            held = self.peek(*key)
            if held is not None:
                return held
            frames, patients = _count_frames(con, run, None, with_n=True, patients=True)
            made = EveryoneCounts(run.run_id, run.snap, patients, frames)
            with self._lock:
                self._entries[key] = made
                self.counted += 1
                while len(self._entries) > self.keep:
                    old, _value = self._entries.popitem(last=False)
                    self._key_locks.pop(old, None)
            return made

    def note_subtracted(self) -> None:
        """Count one cohort made by subtraction (tests and benchmarks check which path ran)."""
        with self._lock:
            self.subtracted += 1

    def clear(self) -> None:
        """Forget every run's counts (tests; a new run replaces the oldest by itself)."""
        with self._lock:
            self._entries.clear()
            self._key_locks.clear()


#: The process's everyone-counts, used by `compute` unless a caller passes its own cache.
EVERYONE = EveryoneCache()


def compute(
    con: duckdb.DuckDBPyConnection,
    allowed_table: str | None = None,
    *,
    method: str = "auto",
    everyone: EveryoneCache | None = None,
) -> PracticeAggregates:
    """Count the newest run's results per practice. `allowed_table` (one column patient_id) restricts the
    count to permitted patients; without it every patient counts (only for tests and platform jobs).

    Two ways to the same frames: "direct" counts the allowed patients' rows; "subtract" takes everyone's
    counts (made once per run per process, `EveryoneCache`) less the rows of the patients the cohort leaves
    out, which for a London-wide planning cohort (opt-outs only) is a few percent of the rows. "auto" (the
    default) subtracts while the left-out patients are at most SUBTRACT_AT_MOST of the population (and counts
    everyone for that only for a cohort leaving out at most COUNT_EVERYONE_AT_MOST), and counts directly
    otherwise (a cohort of one ICS or borough leaves out most of London). "subtract" ignores both shares
    (tests, benchmarks). Either way, a case the subtraction cannot reproduce exactly (a patient
    listed twice, or frames whose dtypes would come out differently from DuckDB's) is counted directly.
    """
    if method not in ("auto", "direct", "subtract"):
        raise ValueError(f"unknown method {method!r}: use auto, direct or subtract")
    run_id, snap, dates, versions, kinds = latest_run(con)
    run = RunInfo(run_id, snap, dates, _definitions(versions, kinds))
    frames = None
    if allowed_table is not None and method != "direct":
        frames = _subtracted(con, run, allowed_table, EVERYONE if everyone is None else everyone, method == "subtract")
    if frames is None:
        frames, _ids = _count_frames(con, run, allowed_table, with_n=False)
    population, counts = frames["population"], frames["counts"]
    strata = pd.concat([frames["strata_pop"], frames["strata_res"]], ignore_index=True)
    for df in (population, counts):  # plain dates, so pages compare them with the run's index dates
        df["index_date"] = pd.to_datetime(df["index_date"]).dt.date
    practices = con.execute(
        "SELECT practice_id, coalesce(name, practice_id) AS name, pcn_id, coalesce(pcn_name, pcn_id) AS pcn_name, "
        "borough, icb FROM practices ORDER BY practice_id"
    ).df()
    practices["london"] = "LONDON"
    cohort = _cohort_fingerprint(con, run_id, snap, allowed_table)
    return PracticeAggregates(run_id, snap, run.latest, dates, run.defs, practices, population, counts, strata, cohort)


def _subtracted(
    con: duckdb.DuckDBPyConnection, run: RunInfo, allowed_table: str, cache: EveryoneCache, force: bool
) -> dict[str, pd.DataFrame] | None:
    """The cohort's frames as everyone's counts less the left-out patients' counts, or None where the direct
    count is cheaper or the subtraction could not give exactly its frames."""
    got = con.execute(f"SELECT patient_id FROM {allowed_table} WHERE patient_id IS NOT NULL").fetchnumpy()
    allowed = np.sort(np.asarray(got["patient_id"], dtype=np.int64))
    if allowed.size > 1 and bool((allowed[1:] == allowed[:-1]).any()):
        return None  # the direct join counts such a patient's rows twice; keep that answer
    if not force and cache.peek(run.run_id, run.snap) is None:
        # Counting everyone costs as much as a direct count: only start it for a cohort that would use it.
        # Governance's allowed patients are drawn from `patients`, so this is the number left out.
        (total,) = con.execute("SELECT count(*) FROM patients").fetchone()
        if total - allowed.size > COUNT_EVERYONE_AT_MOST * total:
            return None
    every = cache.get(con, run)
    # Everyone with a population row and not allowed: exactly the rows the direct count never joins.
    excluded = np.setdiff1d(every.patients, allowed, assume_unique=True)
    if not force and excluded.size > SUBTRACT_AT_MOST * every.patients.size:
        return None
    if excluded.size == 0:
        minus = {name: frame.iloc[0:0] for name, frame in every.frames.items()}
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE web_excluded AS SELECT UNNEST($ids::BIGINT[]) AS patient_id",
            {"ids": excluded.tolist()},
        )
        try:
            minus, _ids = _count_frames(con, run, "web_excluded", with_n=True, prefix="web_x")
        finally:
            con.execute("DROP TABLE IF EXISTS web_excluded")
    out: dict[str, pd.DataFrame] = {}
    for name, frame in every.frames.items():
        left = _minus(frame, minus[name], _KEYS[name], _VALUES[name])
        if left is None:
            log.info("cohort counted directly: the subtraction cannot give the direct %s frame exactly", name)
            return None
        out[name] = left
    cache.note_subtracted()
    return out


def _minus(
    every: pd.DataFrame, excluded: pd.DataFrame, keys: tuple[str, ...], values: tuple[str, ...]
) -> pd.DataFrame | None:
    """`every` less `excluded` per group key (NULL keys match NULL keys, as GROUPING SETS make them), groups
    left with no rows dropped, in `every`'s order and dtypes. None when the result would not be what DuckDB
    returns for the same rows: an empty frame, a text column left all NULL (DuckDB gives object, not str) or
    a nullable integer column left without NULLs (DuckDB gives int8, not Int8)."""
    columns = [c for c in every.columns if c != "n"]
    if excluded.empty:
        return every[columns].reset_index(drop=True)
    minus = excluded[[*keys, *values, "n"]].astype({k: every[k].dtype for k in keys})
    m = every.merge(minus, on=list(keys), how="left", suffixes=("", "_x"), sort=False)
    if len(m) != len(every) or int(m["n_x"].notna().sum()) != len(excluded):
        return None  # a left-out group missing from everyone's counts: cannot happen, never guess
    for c in (*values, "n"):
        m[c] = m[c] - m[f"{c}_x"].fillna(0).astype("int64")
    if bool((m[[*values, "n"]] < 0).any().any()):
        return None
    out = m.loc[m["n"] > 0, columns].reset_index(drop=True)
    if out.empty and not every.empty:
        return None
    for c in columns:
        dtype = out[c].dtype
        if isinstance(dtype, pd.StringDtype) and bool(out[c].isna().all()) and not bool(every[c].isna().all()):
            return None
        if pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_integer_dtype(dtype):
            if not bool(out[c].isna().any()):
                return None
    return out


class AggregateCache:
    """Holds PracticeAggregates per cohort, refreshed when the store file changes or the TTL passes.

    The count over results takes seconds at city scale, so only the first request for a cohort waits for it
    (and, for a cohort that leaves out few patients, only the first cohort of a run: see `compute`).
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
        with session_factory() as session:
            covered = covered_for_planning(session, requester)
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
