"""The outbox: queued invitations and the pluggable senders that deliver them.

Queuing and sending are separate so that a practice's "invite" is instant and safe to repeat (the
outbox is idempotent), while delivery runs later, retries failures and can be swapped per deployment:
an SMS gateway, a print-and-post supplier, or here a spool directory. No sender in this package sends a
real SMS. Logs name message ids and channels only, never the text (it contains the patient's name).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.store.models.care import OutboxMessage, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class OutgoingMessage:
    """What a sender gets: the text and how to route it, not the patient's record."""

    message_id: int
    channel: str
    text: str
    segments: int


class SendError(Exception):
    """A sender could not deliver; the message stays in the outbox as failed and is retried."""


class Sender(Protocol):
    """Delivers one message or raises SendError. Implementations must not log message text."""

    name: str

    def send(self, message: OutgoingMessage) -> None: ...


class FileSender:
    """Writes each message to `<spool>/<channel>/<message_id>.txt`, the hand-off point for a print
    supplier or a gateway's file drop. Writes are atomic (temp file + rename) so a reader never sees half
    a message."""

    name = "file"

    def __init__(self, spool_dir: Path | str) -> None:
        self.spool_dir = Path(spool_dir)

    def send(self, message: OutgoingMessage) -> None:
        target_dir = self.spool_dir / message.channel
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            tmp = target_dir / f".{message.message_id}.tmp"
            tmp.write_text(message.text, encoding="utf-8")
            os.replace(tmp, target_dir / f"{message.message_id}.txt")
        except OSError as err:
            raise SendError(f"spool directory not writable ({err.__class__.__name__})") from err
        log.info(
            "outbox message %s spooled (channel %s, %s segment(s))",
            message.message_id,
            message.channel,
            message.segments,
        )


class LogSender:
    """Records that a message would have been sent, with no text: for demos and dry runs."""

    name = "log"

    def __init__(self) -> None:
        self.sent_ids: list[int] = []

    def send(self, message: OutgoingMessage) -> None:
        self.sent_ids.append(message.message_id)
        log.info(
            "outbox message %s would be sent (channel %s, %s segment(s))",
            message.message_id,
            message.channel,
            message.segments,
        )


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int
    remaining: int


def deliver(
    session: Session,
    sender: Sender,
    *,
    limit: int = 500,
    channel: str | None = None,
    retry_failed: bool = True,
) -> DeliveryReport:
    """Send queued messages (oldest first) and, with `retry_failed`, failed ones still under MAX_ATTEMPTS;
    commit each outcome.

    Committing per message means a crash half-way never re-sends what was already delivered.
    """
    due = OutboxMessage.status == "queued"
    if retry_failed:
        due = due | ((OutboxMessage.status == "failed") & (OutboxMessage.attempts < MAX_ATTEMPTS))
    stmt = select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)
    if channel is not None:
        stmt = stmt.where(OutboxMessage.channel == channel)
    sent = failed = 0
    for msg in list(session.execute(stmt).scalars()):
        msg.attempts += 1
        try:
            sender.send(OutgoingMessage(msg.id, msg.channel, msg.rendered_text, msg.segments))
        except SendError as err:
            msg.status = "failed"
            msg.last_error = f"{sender.name}: {err}"
            failed += 1
            log.warning("outbox message %s failed on attempt %s", msg.id, msg.attempts)
        else:
            msg.status = "sent"
            msg.sent_at = utcnow()
            msg.last_error = ""
            sent += 1
        session.commit()
    remaining_stmt = select(OutboxMessage.id).where(
        (OutboxMessage.status == "queued")
        | ((OutboxMessage.status == "failed") & (OutboxMessage.attempts < MAX_ATTEMPTS))
    )
    remaining = len(session.execute(remaining_stmt).all())
    return DeliveryReport(sent=sent, failed=failed, remaining=remaining)


def outbox_counts(session: Session) -> dict[tuple[str, str], int]:
    """Messages by (channel, status), for the operator's view of the outbox."""
    from sqlalchemy import func

    rows = session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count(OutboxMessage.id)).group_by(
            OutboxMessage.channel, OutboxMessage.status
        )
    ).all()
    return {(c, s): int(n) for c, s, n in rows}
