"""Batch invitations from a worklist: render a template per patient and queue it in the outbox.

Safe to press twice: each message has an idempotency key (practice, patient, template, channel, day),
so a repeated batch queues nothing new. Patients the requester may not (or no longer) see are skipped,
never invited. The batch is audited with the patients actually queued.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.care.access import allowed_among, require_direct_care
from carecommons.care.templates import sms_segments, template
from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance.audit import record as audit_record
from carecommons.governance.purposes import Requester
from carecommons.store.models.care import InvitationBatch, OutboxMessage

MAX_BATCH = 5000


@dataclass(frozen=True)
class InvitationResult:
    batch_id: int
    requested: int
    queued: int
    skipped_not_allowed: int
    skipped_duplicate: int
    skipped_no_record: int
    max_segments: int


def idempotency_key(practice_id: str, patient_id: int, template_id: str, channel: str, day: dt.date) -> str:
    """Stable key for "this invitation, to this patient, today" (SHA-256 hex)."""
    raw = f"{practice_id}|{int(patient_id)}|{template_id}|{channel}|{day.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()


def invite(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    practice_id: str,
    patient_ids: Iterable[int],
    template_id: str,
    channel: str,
    *,
    today: dt.date | None = None,
) -> InvitationResult:
    """Queue one invitation per allowed patient; returns counts (no patient values) for the page."""
    require_direct_care(requester, "invitations")
    if requester.org_id != practice_id:
        raise AccessDenied(
            "practice_id", "you can only invite your own practice's patients", "sign in at that practice"
        )
    tpl = template(template_id, channel)
    ids = sorted({int(p) for p in patient_ids})
    if not ids:
        raise InvalidInput("patients", "no patients were selected", "tick at least one patient on the worklist")
    if len(ids) > MAX_BATCH:
        raise InvalidInput("patients", f"{len(ids)} patients is more than one batch ({MAX_BATCH})", "filter the list")
    day = today or dt.date.today()
    allowed = allowed_among(con, session, requester, ids)
    practice_name = _practice_name(con, practice_id)
    people = (
        {
            int(pid): (given or "", family or "")
            for pid, given, family in con.execute(
                """SELECT patient_id, any_value(given_name), any_value(family_name) FROM patients
               WHERE list_contains($ids, patient_id) GROUP BY patient_id""",
                {"ids": sorted(allowed)},
            ).fetchall()
        }
        if allowed
        else {}
    )
    keys = {pid: idempotency_key(practice_id, pid, template_id, channel, day) for pid in people}
    existing: set[str] = set()
    key_list = list(keys.values())
    for start in range(0, len(key_list), 1000):
        chunk = key_list[start : start + 1000]
        existing |= set(
            session.execute(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(chunk))
            ).scalars()
        )
    batch = InvitationBatch(
        practice_id=practice_id,
        created_by=requester.user_id,
        template_id=template_id,
        channel=channel,
        requested=len(ids),
    )
    session.add(batch)
    queued: list[int] = []
    max_segments = 0
    for pid, (given, family) in sorted(people.items()):
        if keys[pid] in existing:
            continue
        text = tpl.render(
            given_name=given.strip() or "patient",
            family_name=family.strip(),
            practice_name=practice_name,
            date=day.strftime("%-d %B %Y"),
        )
        segments = sms_segments(text) if channel == "sms" else 1
        max_segments = max(max_segments, segments)
        batch.messages.append(
            OutboxMessage(
                patient_id=pid,
                practice_id=practice_id,
                channel=channel,
                template_id=template_id,
                rendered_text=text,
                segments=segments,
                status="queued",
                idempotency_key=keys[pid],
            )
        )
        queued.append(pid)
    batch.queued = len(queued)
    batch.skipped = len(ids) - len(queued)
    session.flush()
    audit_record(
        session,
        requester,
        "invite.batch",
        queued,
        detail=f"batch={batch.id} practice={practice_id} template={template_id} channel={channel}",
    )
    return InvitationResult(
        batch_id=batch.id,
        requested=len(ids),
        queued=len(queued),
        skipped_not_allowed=len(ids) - len(allowed),
        skipped_duplicate=sum(1 for pid in people if keys[pid] in existing),
        skipped_no_record=len(allowed) - len(people),
        max_segments=max_segments,
    )


def _practice_name(con: duckdb.DuckDBPyConnection, practice_id: str) -> str:
    rows = con.execute("SELECT name FROM practices WHERE practice_id = $p", {"p": practice_id}).fetchall()
    name = (rows[0][0] if rows else None) or "Your GP practice"
    return " ".join(w.capitalize() if w.isupper() else w for w in name.split())
