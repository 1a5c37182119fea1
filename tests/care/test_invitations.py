"""Batch invitations, the outbox and senders, SMS segment arithmetic."""

from __future__ import annotations

import logging

import pytest
from care_testdata import INDEX
from sqlalchemy import func, select

from carecommons.care.invitations import invite
from carecommons.care.outbox import MAX_ATTEMPTS, FileSender, LogSender, SendError, deliver
from carecommons.care.templates import TEMPLATES, sms_segments, template
from carecommons.core.errors import AccessDenied, InvalidInput, NotFound
from carecommons.governance import audit
from carecommons.store.models.care import InvitationBatch, OutboxMessage


def test_sms_segments_follow_gsm_and_ucs2_limits():
    assert sms_segments("") == 0
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2  # 153 per part once split
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_segments("€" * 80) == 1  # extension characters cost two septets: 160
    assert sms_segments("€" * 81) == 2
    assert sms_segments("ć" + "a" * 69) == 1  # outside GSM: UCS-2, 70 per single segment
    assert sms_segments("ć" + "a" * 70) == 2


def test_every_sms_template_fits_one_segment_for_a_typical_name():
    for (tid, channel), tpl in TEMPLATES.items():
        if channel != "sms":
            continue
        text = tpl.render(
            given_name="Christopher", family_name="X", practice_name="The Green Surgery", date="1 July 2026"
        )
        assert sms_segments(text) == 1, tid


def test_unknown_template_and_channel():
    with pytest.raises(NotFound):
        template("nope", "sms")
    with pytest.raises(InvalidInput):
        template("bp-review", "fax")


def test_invite_queues_rendered_messages_once(con, session, people):
    result = invite(con, session, people.manager, "P1", [101, 102, 107], "bp-review", "sms", today=INDEX)
    # 107 is registered elsewhere: never invited by P1.
    assert (result.requested, result.queued, result.skipped_not_allowed) == (3, 2, 1)
    assert result.max_segments == 1
    msgs = session.execute(select(OutboxMessage).order_by(OutboxMessage.patient_id)).scalars().all()
    assert [m.patient_id for m in msgs] == [101, 102]
    assert msgs[0].rendered_text.startswith("Dear Ann, The Green Surgery invites you for a blood pressure check")
    assert all(m.status == "queued" and m.batch_id == result.batch_id for m in msgs)
    # Pressing "invite" again the same day queues nothing new.
    again = invite(con, session, people.manager, "P1", [101, 102], "bp-review", "sms", today=INDEX)
    assert (again.queued, again.skipped_duplicate) == (0, 2)
    assert session.execute(select(func.count(OutboxMessage.id))).scalar() == 2
    assert session.execute(select(func.count(InvitationBatch.id))).scalar() == 2
    # A letter is a different message.
    letter = invite(con, session, people.manager, "P1", [101], "bp-review", "letter", today=INDEX)
    assert letter.queued == 1
    text = session.execute(select(OutboxMessage.rendered_text).where(OutboxMessage.channel == "letter")).scalar()
    assert "Dear Ann Able," in text and "30 June 2026" in text
    assert [e.action for e in audit.entries_for_patient(session, 101)] == ["invite.batch", "invite.batch"]
    assert audit.entries_for_patient(session, 107) == []


def test_invite_is_refused_outside_own_practice(con, session, people):
    with pytest.raises(AccessDenied):
        invite(con, session, people.manager_p2, "P1", [101], "bp-review", "sms", today=INDEX)
    with pytest.raises(InvalidInput):
        invite(con, session, people.manager, "P1", [], "bp-review", "sms", today=INDEX)


def test_file_sender_spools_without_logging_patient_values(con, session, people, tmp_path, caplog):
    invite(con, session, people.manager, "P1", [101, 102], "flu-invite", "sms", today=INDEX)
    caplog.set_level(logging.DEBUG)
    report = deliver(session, FileSender(tmp_path / "spool"))
    assert (report.sent, report.failed, report.remaining) == (2, 0, 0)
    files = sorted((tmp_path / "spool" / "sms").glob("*.txt"))
    assert len(files) == 2 and "Dear Ann" in files[0].read_text()
    assert not list((tmp_path / "spool" / "sms").glob(".*"))  # no temp files left behind
    for word in ("Ann", "Bob", "Able", "Baker"):
        assert word not in caplog.text
    assert all(m.status == "sent" and m.sent_at is not None for m in session.execute(select(OutboxMessage)).scalars())
    assert deliver(session, LogSender()).sent == 0  # nothing is sent twice


class _Flaky:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def send(self, message):
        if self.failures:
            self.failures -= 1
            raise SendError("gateway unavailable")


def test_failed_messages_are_retried_up_to_the_limit(con, session, people):
    invite(con, session, people.manager, "P1", [101], "bp-review", "sms", today=INDEX)
    first = deliver(session, _Flaky(failures=1))
    assert (first.sent, first.failed, first.remaining) == (0, 1, 1)
    msg = session.execute(select(OutboxMessage)).scalar_one()
    assert msg.status == "failed" and msg.last_error == "flaky: gateway unavailable"
    second = deliver(session, _Flaky(failures=0))
    assert second.sent == 1
    session.refresh(msg)
    assert msg.status == "sent" and msg.attempts == 2 and msg.last_error == ""
    # A message that keeps failing stops being retried after MAX_ATTEMPTS.
    invite(con, session, people.manager, "P1", [102], "bp-review", "sms", today=INDEX)
    for _ in range(MAX_ATTEMPTS + 2):
        deliver(session, _Flaky(failures=100))
    stuck = session.execute(select(OutboxMessage).where(OutboxMessage.patient_id == 102)).scalar_one()
    assert stuck.attempts == MAX_ATTEMPTS and stuck.status == "failed"
