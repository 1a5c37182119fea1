"""The audit log: every patient-level read and every change, hash-chained so tampering shows.

Each entry's hash is SHA-256 over its canonical fields and the previous entry's hash; the head row
(gov_audit_head) names the last entry. Appenders lock the head row first, so concurrent appends from
web workers and CLI runs are serialised on both PostgreSQL (row lock) and SQLite (database write lock).
Deleting, editing or reordering entries, or truncating the tail, breaks verification.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput
from carecommons.governance.purposes import Requester
from carecommons.store.models.governance import AuditEntry, AuditHead, utcnow

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str = ""


def entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    user_id: str,
    role: str,
    org_id: str | None,
    purpose: str,
    patient_id: int | None,
    action: str,
    detail: str,
    prev_hash: str,
) -> str:
    """SHA-256 of a canonical JSON rendering: fixed key order, no whitespace, timestamps to the microsecond."""
    canonical = json.dumps(
        [
            seq,
            at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            user_id,
            role,
            org_id,
            purpose,
            patient_id,
            action,
            detail,
            prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


_HASHED_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.user_id,
    AuditEntry.role,
    AuditEntry.org_id,
    AuditEntry.purpose,
    AuditEntry.patient_id,
    AuditEntry.action,
    AuditEntry.detail,
    AuditEntry.prev_hash,
)


def _hash_of(e: AuditEntry | Row) -> str:
    return entry_hash(
        seq=e.seq,
        at=e.at,
        user_id=e.user_id,
        role=e.role,
        org_id=e.org_id,
        purpose=e.purpose,
        patient_id=e.patient_id,
        action=e.action,
        detail=e.detail,
        prev_hash=e.prev_hash,
    )


def _lock_head(session: Session) -> AuditHead:
    """Take the chain lock: an UPDATE of the head row locks it on PostgreSQL and takes SQLite's write lock."""
    touched = session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(last_seq=AuditHead.last_seq))
    if touched.rowcount == 0:
        # Databases made with create_all (tests) have no head row yet; the migration inserts it.
        session.add(AuditHead(id=_HEAD_ID, last_seq=0, last_hash=GENESIS_HASH))
        session.flush()
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update().execution_options(populate_existing=True)
    ).one()
    return head


def record(
    session: Session,
    requester: Requester,
    action: str,
    patient_ids: Sequence[int] | None = None,
    detail: str = "",
) -> None:
    """Append one entry per patient (or one entry without a patient) and commit the session.

    Committing here means the audited change (already in the session) and its entries are durable
    together, and the chain lock is held only for this short transaction.
    """
    _append(
        session,
        requester.user_id,
        str(requester.role),
        requester.org_id,
        str(requester.purpose),
        action,
        patient_ids,
        detail,
    )


def record_change(
    session: Session, actor: str, action: str, patient_ids: Sequence[int] | None = None, detail: str = ""
) -> None:
    """Audit a change to governance state (an opt-out, a caseload, an agreement...) made by `actor`, a user id
    or a system process name; role and organisation are taken from the account when there is one. Commits."""
    from carecommons.store.models.governance import User

    user = session.get(User, actor)
    role, org = (user.role, user.org_id) if user is not None else ("system", None)
    _append(session, actor, role, org, ADMINISTRATION, action, patient_ids, detail)


#: The purpose recorded for changes to governance state itself (not a data purpose: it opens no data).
ADMINISTRATION = "administration"


def _append(
    session: Session,
    user_id: str,
    role: str,
    org_id: str | None,
    purpose: str,
    action: str,
    patient_ids: Sequence[int] | None,
    detail: str,
) -> None:
    if not action:
        raise InvalidInput("action", "an audit entry needs an action", "say what was done, e.g. 'read_record'")
    head = _lock_head(session)
    seq, prev = head.last_seq, head.last_hash
    at = utcnow()
    targets: Sequence[int | None] = list(dict.fromkeys(int(p) for p in patient_ids)) if patient_ids else [None]
    rows: list[dict[str, object]] = []
    for pid in targets:
        seq += 1
        fields = dict(
            seq=seq,
            at=at,
            user_id=user_id,
            role=role,
            org_id=org_id,
            purpose=purpose,
            patient_id=pid,
            action=action,
            detail=detail,
            prev_hash=prev,
        )
        prev = entry_hash(**fields)
        rows.append({**fields, "hash": prev})
    # One executemany: a worklist of thousands of patients is audited in one round trip, not one ORM object each.
    session.execute(insert(AuditEntry), rows)
    head.last_seq, head.last_hash = seq, prev
    session.commit()


def verify(session: Session, batch: int = 10_000) -> VerifyResult:
    """Walk the chain in order and report the first entry whose link or hash does not match."""
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    last_seen = 0
    while True:
        # Plain rows, not ORM objects: the chain can be long and the caller's session must not fill up.
        rows = session.execute(
            select(*_HASHED_COLUMNS, AuditEntry.hash)
            .where(AuditEntry.seq > last_seen)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for e in rows:
            if e.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, f"entry {expected_seq} is missing")
            if e.prev_hash != prev:
                return VerifyResult(False, checked, e.seq, "prev_hash does not match the previous entry's hash")
            if _hash_of(e) != e.hash:
                return VerifyResult(False, checked, e.seq, "contents do not match the stored hash")
            prev, expected_seq, checked, last_seen = e.hash, e.seq + 1, checked + 1, e.seq
    head = session.get(AuditHead, _HEAD_ID)
    if head is not None and (head.last_seq != checked or head.last_hash != prev):
        return VerifyResult(
            False, checked, checked + 1, f"the head names entry {head.last_seq} but the chain ends at {checked}"
        )
    return VerifyResult(True, checked)


def _patient_filter(stmt, patient_id: int, include_changes: bool):
    stmt = stmt.where(AuditEntry.patient_id == int(patient_id))
    return stmt if include_changes else stmt.where(AuditEntry.purpose != ADMINISTRATION)


def entries_for_patient(
    session: Session,
    patient_id: int,
    include_changes: bool = False,
    newest_first: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[AuditEntry]:
    """Entries about one patient (oldest first unless `newest_first`): what the patient sees on 'who looked at
    my record'. `limit`/`offset` read one page, so a record on a busy worklist (an entry per listing) is never
    loaded whole to show fifty lines.

    By default only data access and care actions (entries under a data purpose); with include_changes, also
    changes to governance state about them (their opt-out choices, caseload and carer-consent changes).
    """
    stmt = _patient_filter(select(AuditEntry), patient_id, include_changes)
    stmt = stmt.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
    if limit is not None:
        stmt = stmt.limit(int(limit)).offset(int(offset))
    return list(session.scalars(stmt))


def count_for_patient(session: Session, patient_id: int, include_changes: bool = False) -> int:
    """How many entries entries_for_patient would return with no limit."""
    stmt = _patient_filter(select(func.count()).select_from(AuditEntry), patient_id, include_changes)
    return int(session.scalar(stmt) or 0)


def entries(session: Session, limit: int = 100) -> list[AuditEntry]:
    """The newest entries first, for IG review."""
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)))
