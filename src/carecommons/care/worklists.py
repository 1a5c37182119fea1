"""Practice worklists: who is due what, for the patients the requester may see, audited.

A worklist is the practice's to-do list derived from the record: recalls, care gaps and case finding
(care.rules), plus anything a `WorklistSource` adds (risk scores, engine indicator results). The SQL
works on a small per-request slice of events (the practice's allowed patients, the codes the rules
need), so one practice's list stays fast on a London-sized store.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carecommons.care import rule_inputs
from carecommons.care.access import cohort_table
from carecommons.care.codes import ensure_codes
from carecommons.care.patient_events import PatientEvents, read_patient_events
from carecommons.care.rules import BUILTIN_RULES, ItemKind, RuleShape, WorklistRule, season_start
from carecommons.core.dates import months_back
from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance.audit import record as audit_record
from carecommons.governance.purposes import Requester
from carecommons.store.models.care import OutboxMessage


@dataclass(frozen=True)
class WorklistItem:
    """One reason a patient is on the list, with the evidence a clinician would check first."""

    patient_id: int
    rule_id: str
    kind: ItemKind
    label: str
    template: str
    last_date: dt.date | None = None
    value: float | None = None
    detail: str = ""  # evidence in words, from sources that have it (e.g. risk case finding)


@dataclass(frozen=True)
class WorklistRow:
    """One patient with every reason they are due something."""

    patient_id: int
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date
    age: int
    sex: str
    items: tuple[WorklistItem, ...]
    last_invited: dt.datetime | None = None


@dataclass(frozen=True)
class WorklistFilters:
    """What the practice manager narrowed the list to. Empty means everything."""

    kinds: frozenset[ItemKind] = frozenset()
    rule_ids: frozenset[str] = frozenset()
    age_min: int | None = None
    age_max: int | None = None
    sex: str | None = None
    not_invited_within_days: int | None = None
    index_date: dt.date | None = None
    limit: int | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def describe(self) -> str:
        """A compact, patient-free description for audit details and CSV file names."""
        parts = []
        if self.kinds:
            parts.append("kinds=" + ",".join(sorted(str(k) for k in self.kinds)))
        if self.rule_ids:
            parts.append("rules=" + ",".join(sorted(self.rule_ids)))
        if self.age_min is not None:
            parts.append(f"age>={self.age_min}")
        if self.age_max is not None:
            parts.append(f"age<={self.age_max}")
        if self.sex:
            parts.append(f"sex={self.sex}")
        if self.not_invited_within_days is not None:
            parts.append(f"not_invited_within={self.not_invited_within_days}d")
        if self.index_date:
            parts.append(f"index={self.index_date.isoformat()}")
        return " ".join(parts) or "all"


class WorklistSource(Protocol):
    """Something else that can put patients on a worklist (risk case finding, engine care gaps).

    It receives the governance cohort table (only allowed, registered patients) and returns items;
    items for anyone outside that table are dropped by the worklist, whatever the source does.
    """

    def items(
        self, con: duckdb.DuckDBPyConnection, population_table: str, practice_id: str, index_date: dt.date
    ) -> Iterable[WorklistItem]: ...


_POP = "_care_worklist_pop"
_EV = "_care_worklist_ev"


#: Patients per page of a worklist: a morning's calls or invitations, and small enough that a view (which audits
#: every listed patient) stays well under 300 ms at a million patients. The CSV download holds the whole list.
PAGE_SIZE = 100


@dataclass(frozen=True)
class WorklistPage:
    """One page of a practice's worklist and where it sits in the whole (filtered) list."""

    rows: list[WorklistRow]
    total: int  # patients on the whole list after the filters
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first(self) -> int:
        """1-based position of the first row shown (0 for an empty list)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


def worklist(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    practice_id: str,
    filters: WorklistFilters | None = None,
    *,
    rules: Sequence[WorklistRule] = BUILTIN_RULES,
    sources: Sequence[WorklistSource] = (),
    audit_action: str = "worklist.view",
) -> list[WorklistRow]:
    """The practice's worklist for its registered patients that governance allows, filtered and audited.

    Sorted by number of reasons (most first), then family name, so the patients with the most to gain
    from one appointment come first. `filters.limit` keeps the first rows; only they are audited.
    """
    filters = filters or WorklistFilters()
    rows = _listed(con, session, requester, practice_id, filters, rules, sources)
    if filters.limit is not None:
        rows = rows[: filters.limit]
    return _finish(session, requester, practice_id, filters, rows, audit_action, "")


def worklist_page(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    practice_id: str,
    filters: WorklistFilters | None = None,
    *,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    rules: Sequence[WorklistRule] = BUILTIN_RULES,
    sources: Sequence[WorklistSource] = (),
) -> WorklistPage:
    """One page of the worklist, in the same order as `worklist`. Only the patients on the page are read in
    full and audited as viewed: a page lists what a person actually saw, not the thousands behind it."""
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise InvalidInput("page", f"{page!r} is not a page number", "use a whole number from 1")
    if not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise InvalidInput("page_size", f"{page_size!r} patients per page", "use 1 to 1000")
    filters = filters or WorklistFilters()
    rows = _listed(con, session, requester, practice_id, filters, rules, sources)
    if filters.limit is not None:
        rows = rows[: filters.limit]
    total = len(rows)
    pages = max(1, -(-total // page_size))
    if page > pages:
        raise InvalidInput("page", f"page {page} is past the last page ({pages})", f"use a page from 1 to {pages}")
    shown = rows[(page - 1) * page_size : page * page_size]
    shown = _finish(session, requester, practice_id, filters, shown, "worklist.view", f" page={page}")
    return WorklistPage(shown, total, page, page_size)


def _listed(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    practice_id: str,
    filters: WorklistFilters,
    rules: Sequence[WorklistRule],
    sources: Sequence[WorklistSource],
) -> list[WorklistRow]:
    """Every row of the filtered list, sorted, before any page is cut or anything is audited."""
    if requester.org_id != practice_id:
        raise AccessDenied(
            "practice_id",
            "a worklist can only be opened for your own practice",
            "sign in with a role at that practice",
        )
    if filters.sex is not None and filters.sex not in ("F", "M", "U"):
        raise InvalidInput("sex", "must be F, M or U", "choose one of F, M, U or leave it empty")
    index = filters.index_date or dt.date.today()
    allowed = cohort_table(con, session, requester)
    _population(con, allowed, practice_id, index)
    chosen = [
        r
        for r in rules
        if (not filters.kinds or r.kind in filters.kinds) and (not filters.rule_ids or r.id in filters.rule_ids)
    ]
    items = _cached_items(con, practice_id, chosen, index)
    allowed_ids = {int(x[0]) for x in con.execute(f"SELECT patient_id FROM {_POP}").fetchall()}
    for source in sources:
        for item in source.items(con, _POP, practice_id, index):
            if item.patient_id not in allowed_ids:
                continue
            if filters.kinds and item.kind not in filters.kinds:
                continue
            if filters.rule_ids and item.rule_id not in filters.rule_ids:
                continue
            items.append(item)
    rows = _rows(con, items, index)
    rows = _apply_demographic_filters(rows, filters)
    if filters.not_invited_within_days is not None:
        rows = _with_last_invited(session, practice_id, rows)
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=filters.not_invited_within_days)
        rows = [r for r in rows if r.last_invited is None or _aware(r.last_invited) < cutoff]
    rows.sort(key=lambda r: (-len(r.items), (r.family_name or "").lower(), r.patient_id))
    return rows


def _finish(
    session: Session,
    requester: Requester,
    practice_id: str,
    filters: WorklistFilters,
    rows: list[WorklistRow],
    audit_action: str,
    detail_suffix: str,
) -> list[WorklistRow]:
    """Attach invitation history to the rows shown (already there when the filter needed it) and audit them."""
    if filters.not_invited_within_days is None:
        rows = _with_last_invited(session, practice_id, rows)
    audit_record(
        session,
        requester,
        audit_action,
        patient_ids=[r.patient_id for r in rows],
        detail=f"practice={practice_id} {filters.describe()} rows={len(rows)}{detail_suffix}",
    )
    session.commit()
    return rows


def _aware(ts: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _population(con: duckdb.DuckDBPyConnection, allowed: str, practice_id: str, index: dt.date) -> None:
    """Patients registered at the practice on the index date, alive, and allowed by governance."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_POP} AS
        SELECT p.patient_id,
               any_value(p.date_of_birth) AS date_of_birth,
               date_sub('year', any_value(p.date_of_birth), $idx::DATE) AS age
        FROM patients p
        JOIN registrations r
          ON r.patient_id = p.patient_id AND r.practice_id = $practice
         AND r.start_date <= $idx::DATE AND (r.end_date IS NULL OR r.end_date >= $idx::DATE)
        WHERE (p.date_of_death IS NULL OR p.date_of_death > $idx::DATE)
          AND p.patient_id IN (SELECT patient_id FROM {allowed})
        GROUP BY p.patient_id
        """,
        {"idx": index, "practice": practice_id},
    )


#: How long a practice's rule results are reused on a read-only store whose file and population are unchanged.
ITEMS_CACHE_SECONDS = 300.0
_ITEMS_CACHE_MAX = 32
_items_cache: dict[tuple, tuple[float, tuple[WorklistItem, ...]]] = {}
_items_lock = threading.Lock()


def _cached_items(
    con: duckdb.DuckDBPyConnection, practice_id: str, rules: Sequence[WorklistRule], index: dt.date
) -> list[WorklistItem]:
    """The rules' items for the population temp table, reused for a few minutes when nothing they depend on
    can have changed: the store is opened read-only and its file is unchanged (so events are the same), and
    the population (patient ids with their ages, after governance) has the same fingerprint. The rules read
    the events table once per view otherwise, which at a million patients is the worklist's main cost.

    Only derived items are reused; the governance cohort, the population, the audit entry and the invitation
    history are computed on every view. Writable or in-memory stores are never cached.
    """
    key = _items_key(con, practice_id, rules, index)
    if key is not None:
        with _items_lock:
            hit = _items_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ITEMS_CACHE_SECONDS:
            return list(hit[1])
    items = _evaluate(con, rules, index)
    if key is not None:
        with _items_lock:
            if len(_items_cache) >= _ITEMS_CACHE_MAX:
                _items_cache.clear()
            _items_cache[key] = (time.monotonic(), tuple(items))
    return items


def clear_items_cache() -> None:
    """Forget every practice's reused rule results (the benchmark times first views with it)."""
    with _items_lock:
        _items_cache.clear()


def _items_key(
    con: duckdb.DuckDBPyConnection, practice_id: str, rules: Sequence[WorklistRule], index: dt.date
) -> tuple | None:
    """Cache key of a practice's rule items, or None when the store may change under this connection."""
    stamp = rule_inputs.store_stamp(con)
    if stamp is None:
        return None
    population = con.execute(
        f"SELECT count(*), coalesce(sum(hash(patient_id, age)::HUGEINT), 0), coalesce(bit_xor(hash(patient_id)), 0) "
        f"FROM {_POP}"
    ).fetchone()
    return (stamp, practice_id, index, tuple(rules), tuple(population))


def rule_lists(rules: Sequence[WorklistRule] = BUILTIN_RULES) -> frozenset[str]:
    """Every codelist the rules read (what `care.rule_inputs.prepare` summarises for them)."""
    return frozenset(n for r in rules for n in (*r.register, *r.resolved, *r.check))


def _evaluate(con: duckdb.DuckDBPyConnection, rules: Sequence[WorklistRule], index: dt.date) -> list[WorklistItem]:
    """Run the rules over the population already in the population temp table.

    The event slice comes from the process's summary of the store (care.rule_inputs) when it answers these
    rules exactly at this index date, else from a scan of the store's events for the population."""
    lists = rule_lists(rules)
    summary = rule_inputs.current(con)
    if summary is not None and summary.covers(lists, index):
        population = [int(r[0]) for r in con.execute(f"SELECT patient_id FROM {_POP}").fetchall()]
        _slice_from_summary(con, summary.lists, *summary.slice_rows(population))
    else:
        ensure_codes(con, lists)
        _event_slice(con)
    return _run_rules(con, rules, index)


def _slice_from_summary(
    con: duckdb.DuckDBPyConnection,
    names: Sequence[str],
    pids: list[int],
    list_nos: list[int],
    days: list[int],
    values: list[float | None],
) -> None:
    """The event slice temp table from summary rows (codelists by position in `names`, dates as days since
    1970-01-01: numbers cross into DuckDB much faster than strings and dates)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_EV} AS
        SELECT patient_id, $names[list_no + 1] AS list_id, DATE '1970-01-01' + day AS date, value
        FROM (SELECT UNNEST($pids::BIGINT[]) AS patient_id, UNNEST($lists::SMALLINT[]) AS list_no,
                     UNNEST($days::INTEGER[]) AS day, UNNEST($values::DOUBLE[]) AS value)
        """,
        {"names": list(names), "pids": pids, "lists": list_nos, "days": days, "values": values},
    )


def items_for_patient(
    con: duckdb.DuckDBPyConnection,
    patient_id: int,
    index: dt.date,
    rules: Sequence[WorklistRule] = BUILTIN_RULES,
    events: PatientEvents | None = None,
) -> list[WorklistItem]:
    """What one patient is due (their care gaps), for the patient record page.

    No governance check here: callers (care.record) have already checked access and audit the view. The
    patient's events are read once (or taken from `events`, already read by the record page) and tagged in
    Python, so the rules run on a handful of rows without a scan of the store's events table.
    """
    pid = int(patient_id)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_POP} AS
        SELECT patient_id, any_value(date_of_birth) AS date_of_birth,
               date_sub('year', any_value(date_of_birth), $idx::DATE) AS age
        FROM patients WHERE patient_id = $pid GROUP BY patient_id
        """,
        {"idx": index, "pid": pid},
    )
    history = events if events is not None and events.patient_id == pid else read_patient_events(con, pid)
    tagged = history.tagged(n for r in rules for n in (*r.register, *r.resolved, *r.check))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_EV} AS
        SELECT UNNEST($pids::BIGINT[]) AS patient_id, UNNEST($lists::VARCHAR[]) AS list_id,
               UNNEST($dates::DATE[]) AS date, UNNEST($values::DOUBLE[]) AS value
        """,
        {
            "pids": [pid] * len(tagged),
            "lists": [list_id for list_id, _ in tagged],
            "dates": [row.date for _, row in tagged],
            # As the store-wide slice: readings keep their value, vaccinations have none.
            "values": [row.value if row.source == "events" else None for _, row in tagged],
        },
    )
    present = {list_id for list_id, row in tagged if row.date <= index}
    return _run_rules(con, [r for r in rules if _may_fire(r, present)], index)


def _may_fire(rule: WorklistRule, present: set[str]) -> bool:
    """False when the patient has none of the codes the rule needs, so it cannot list them (a necessary
    condition only: the rule's SQL still decides). Saves planning a rule that cannot match on the record page."""
    if rule.shape == RuleShape.VACCINATION_DUE:
        return True  # due by age alone
    on_register = bool(present.intersection(rule.register))
    if rule.shape == RuleShape.NO_RECENT:
        return on_register
    has_reading = bool(present.intersection(rule.check))
    return has_reading if rule.not_on_register else on_register and has_reading


def _event_slice(con: duckdb.DuckDBPyConnection) -> None:
    """The population's events and vaccinations whose codes any rule needs, tagged by codelist.

    One scan of the big tables per request; every rule then reads this slice.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_EV} AS
        SELECT e.patient_id, c.list_id, e.date, e.value
        FROM events e
        JOIN _care_codes c ON c.code = e.code
        WHERE e.patient_id IN (SELECT patient_id FROM {_POP})
        UNION ALL
        SELECT v.patient_id, c.list_id, v.date, NULL::DOUBLE AS value
        FROM vaccinations v
        JOIN _care_codes c ON c.code = v.code
        WHERE v.patient_id IN (SELECT patient_id FROM {_POP})
        """
    )


_ON_REGISTER = f"""
    SELECT reg.patient_id FROM (
        SELECT patient_id, max(date) AS d FROM {_EV}
        WHERE list_contains($register, list_id) AND date <= $idx::DATE GROUP BY patient_id
    ) reg
    LEFT JOIN (
        SELECT patient_id, max(date) AS d FROM {_EV}
        WHERE list_contains($resolved, list_id) AND date <= $idx::DATE GROUP BY patient_id
    ) res ON res.patient_id = reg.patient_id
    WHERE res.d IS NULL OR reg.d > res.d
"""


def _rule_sql(r: WorklistRule, index: dt.date) -> tuple[str, dict[str, object]]:
    """One rule as a SELECT of (patient_id, last date, value) over the population and event slice."""
    params: dict[str, object] = {
        "idx": index,
        "check": list(r.check),
        "age_min": r.age_min if r.age_min is not None else -1,
        "age_max": r.age_max if r.age_max is not None else 1000,
    }
    age = "pop.age BETWEEN $age_min AND $age_max"
    if r.shape == RuleShape.NO_RECENT:
        params |= {
            "register": list(r.register),
            "resolved": list(r.resolved),
            "since": months_back(index, r.window_months),
        }
        sql = f"""
            SELECT pop.patient_id, last.d, NULL::DOUBLE
            FROM {_POP} pop
            JOIN ({_ON_REGISTER}) onreg ON onreg.patient_id = pop.patient_id
            LEFT JOIN (
                SELECT patient_id, max(date) AS d FROM {_EV}
                WHERE list_contains($check, list_id) AND date <= $idx::DATE GROUP BY patient_id
            ) last ON last.patient_id = pop.patient_id
            WHERE (last.d IS NULL OR last.d <= $since::DATE) AND {age}
        """
    elif r.shape == RuleShape.LATEST_VALUE:
        if r.threshold is None:
            raise InvalidInput(f"rule {r.id}", "a latest_value rule needs a threshold", "set threshold")
        params |= {
            "register": list(r.register),
            "resolved": list(r.resolved),
            "since": months_back(index, r.window_months),
            "threshold": r.threshold,
        }
        membership = "NOT IN" if r.not_on_register else "IN"
        # Case finding flags "X or more"; care gaps flag "above target" (the target itself is met).
        op = ">=" if r.not_on_register else ">"
        sql = f"""
            SELECT pop.patient_id, latest.date, latest.value
            FROM {_POP} pop
            JOIN (
                SELECT patient_id, date, value,
                       row_number() OVER (PARTITION BY patient_id ORDER BY date DESC, value ASC) AS rn
                FROM {_EV}
                WHERE list_contains($check, list_id) AND value IS NOT NULL
                  AND date <= $idx::DATE AND date > $since::DATE
            ) latest ON latest.patient_id = pop.patient_id AND latest.rn = 1
            WHERE pop.patient_id {membership} ({_ON_REGISTER})
              AND latest.value {op} $threshold AND {age}
        """
    elif r.shape == RuleShape.VACCINATION_DUE:
        params["since"] = season_start(index)
        sql = f"""
            SELECT pop.patient_id, last.d, NULL::DOUBLE
            FROM {_POP} pop
            LEFT JOIN (
                SELECT patient_id, max(date) AS d FROM {_EV}
                WHERE list_contains($check, list_id) AND date <= $idx::DATE GROUP BY patient_id
            ) last ON last.patient_id = pop.patient_id
            WHERE (last.d IS NULL OR last.d < $since::DATE) AND {age}
        """
    else:  # pragma: no cover - enum is exhaustive
        raise InvalidInput(f"rule {r.id}", f"unknown shape {r.shape}", "use a RuleShape")
    # Only the parameters the SQL names: DuckDB refuses unused named parameters.
    return sql, {k: v for k, v in params.items() if f"${k}" in sql}


def _run_rules(con: duckdb.DuckDBPyConnection, rules: Sequence[WorklistRule], index: dt.date) -> list[WorklistItem]:
    """Every rule in one query (a UNION ALL with the rule's position as a column), so a page pays DuckDB's
    per-query planning once instead of once per rule; items come back in rule order."""
    if not rules:
        return []
    parts, params = [], {}
    for n, r in enumerate(rules):
        sql, used = _rule_sql(r, index)
        sql = re.sub(
            r"\$(\w+)", lambda m, n=n, used=used: f"${m.group(1)}_{n}" if m.group(1) in used else m.group(0), sql
        )
        params |= {f"{name}_{n}": value for name, value in used.items()}
        parts.append(f"SELECT {n} AS rule_no, * FROM ({sql})")
    rows = con.execute(" UNION ALL ".join(parts), params).fetchall()
    rows.sort(key=lambda row: row[0])  # stable: DuckDB's order within a rule is kept
    return [
        WorklistItem(
            patient_id=int(pid),
            rule_id=rules[n].id,
            kind=rules[n].kind,
            label=rules[n].label,
            template=rules[n].template,
            last_date=last,
            value=None if value is None else float(value),
        )
        for n, pid, last, value in rows
    ]


def _rows(con: duckdb.DuckDBPyConnection, items: list[WorklistItem], index: dt.date) -> list[WorklistRow]:
    by_patient: dict[int, list[WorklistItem]] = {}
    for it in items:
        by_patient.setdefault(it.patient_id, []).append(it)
    if not by_patient:
        return []
    demo = con.execute(
        """
        SELECT patient_id, any_value(nhs_number), any_value(given_name), any_value(family_name),
               any_value(date_of_birth), any_value(sex)
        FROM patients WHERE patient_id IN (SELECT UNNEST($ids::BIGINT[])) GROUP BY patient_id
        """,
        {"ids": sorted(by_patient)},
    ).fetchall()
    rows = []
    for pid, nhs, given, family, dob, sex in demo:
        its = sorted(by_patient[int(pid)], key=lambda i: (list(ItemKind).index(i.kind), i.rule_id))
        rows.append(
            WorklistRow(
                patient_id=int(pid),
                nhs_number=nhs,
                given_name=given,
                family_name=family,
                date_of_birth=dob,
                age=_age(dob, index),
                sex=sex,
                items=tuple(its),
            )
        )
    return rows


def _age(dob: dt.date, index: dt.date) -> int:
    return index.year - dob.year - ((index.month, index.day) < (dob.month, dob.day))


def _apply_demographic_filters(rows: list[WorklistRow], f: WorklistFilters) -> list[WorklistRow]:
    out = []
    for r in rows:
        if f.age_min is not None and r.age < f.age_min:
            continue
        if f.age_max is not None and r.age > f.age_max:
            continue
        if f.sex and r.sex != f.sex:
            continue
        out.append(r)
    return out


def _with_last_invited(session: Session, practice_id: str, rows: list[WorklistRow]) -> list[WorklistRow]:
    """Attach the last time each patient was sent an invitation by this practice (queued or sent)."""
    if not rows:
        return rows
    last: dict[int, dt.datetime] = {}
    ids = [r.patient_id for r in rows]
    for chunk_start in range(0, len(ids), 1000):
        chunk = ids[chunk_start : chunk_start + 1000]
        stmt = (
            select(OutboxMessage.patient_id, func.max(OutboxMessage.created_at))
            .where(OutboxMessage.practice_id == practice_id)
            .where(OutboxMessage.patient_id.in_(chunk))
            .where(OutboxMessage.status != "failed")
            .group_by(OutboxMessage.patient_id)
        )
        last.update({int(pid): ts for pid, ts in session.execute(stmt)})
    return [
        WorklistRow(**{**r.__dict__, "last_invited": last.get(r.patient_id)}) if r.patient_id in last else r
        for r in rows
    ]


CSV_COLUMNS = (
    "patient_id",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "age",
    "sex",
    "kind",
    "rule_id",
    "reason",
    "last_recorded",
    "last_value",
    "last_invited",
    "evidence",
)


def _cell(value: object) -> str:
    """Text for a CSV cell, defused against spreadsheet formula injection (OWASP CSV injection)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def rows_to_csv(rows: Sequence[WorklistRow]) -> str:
    """One line per patient and reason, so a spreadsheet can filter by reason without splitting cells."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        for it in r.items:
            w.writerow(
                [
                    _cell(v)
                    for v in (
                        r.patient_id,
                        r.nhs_number,
                        r.given_name,
                        r.family_name,
                        r.date_of_birth,
                        r.age,
                        r.sex,
                        it.kind.value,
                        it.rule_id,
                        it.label,
                        it.last_date,
                        it.value,
                        r.last_invited,
                        it.detail,
                    )
                ]
            )
    return buf.getvalue()


def export_csv(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    practice_id: str,
    filters: WorklistFilters | None = None,
    *,
    rules: Sequence[WorklistRule] = BUILTIN_RULES,
    sources: Sequence[WorklistSource] = (),
) -> str:
    """The worklist as CSV text, audited as an export (a copy leaving the platform) for every patient in it."""
    rows = worklist(
        con, session, requester, practice_id, filters, rules=rules, sources=sources, audit_action="worklist.export"
    )
    return rows_to_csv(rows)
