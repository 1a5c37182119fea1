"""The hash-chained audit log on both backends: appends, tamper detection, patients' view, concurrency."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import text

from carecommons.governance import audit
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.operational import make_sessionmaker

GP = Requester(user_id="gp.a1", role="gp", org_id="A1", purpose=Purpose.DIRECT_CARE)
ANALYST = Requester(user_id="an.ncl", role="analyst", org_id="icb:NCL", purpose=Purpose.PLANNING)


def test_one_entry_per_patient_and_one_for_patientless_actions(session):
    audit.record(session, GP, "read_record", [11, 12, 11], detail="summary page")
    audit.record(session, ANALYST, "run_indicator", None, detail="DM017 at ICB level")
    rows = session.execute(text("SELECT seq, patient_id, action, purpose FROM gov_audit_log ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [
        (1, 11, "read_record", "direct_care"),
        (2, 12, "read_record", "direct_care"),
        (3, None, "run_indicator", "planning"),
    ]
    result = audit.verify(session)
    assert result.ok and result.checked == 3


def test_hash_is_sha256_of_the_documented_canonical_fields(session):
    audit.record(session, GP, "read_record", [42])
    e = audit.entries_for_patient(session, 42)[0]
    canonical = json.dumps(
        [1, e.at.strftime("%Y-%m-%dT%H:%M:%S.%f"), "gp.a1", "gp", "A1", "direct_care", 42, "read_record", "", "0" * 64],
        separators=(",", ":"),
    )
    assert e.hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert e.prev_hash == "0" * 64


def test_patient_sees_only_entries_about_them(session):
    audit.record(session, GP, "read_record", [1, 2])
    audit.record(session, GP, "update_care_plan", [1], detail="plan 7")
    mine = audit.entries_for_patient(session, 1)
    assert [(e.action, e.user_id, e.role, e.org_id) for e in mine] == [
        ("read_record", "gp.a1", "gp", "A1"),
        ("update_care_plan", "gp.a1", "gp", "A1"),
    ]
    assert all(e.patient_id == 1 for e in mine)


@pytest.mark.parametrize(
    "tamper, broken_seq",
    [
        ("UPDATE gov_audit_log SET detail = 'nothing to see' WHERE seq = 3", 3),
        ("UPDATE gov_audit_log SET user_id = 'someone.else' WHERE seq = 2", 2),
        ("DELETE FROM gov_audit_log WHERE seq = 2", 2),
        ("UPDATE gov_audit_log SET patient_id = 99 WHERE seq = 4", 4),
        ("DELETE FROM gov_audit_log WHERE seq = 5", 6),  # tail truncated: the head row still names entry 5
    ],
)
def test_tampering_is_detected_at_the_first_broken_entry(session, engine, tamper, broken_seq):
    audit.record(session, GP, "read_record", [1, 2, 3, 4, 5])
    assert audit.verify(session).ok
    with engine.begin() as conn:
        conn.execute(text(tamper))
    result = audit.verify(session)
    assert not result.ok
    assert result.first_broken_seq == (5 if broken_seq == 6 else broken_seq)
    assert result.reason


def test_recomputing_a_tampered_hash_still_breaks_the_next_link(session, engine):
    audit.record(session, GP, "read_record", [1, 2, 3])
    e = audit.entries_for_patient(session, 2)[0]
    forged = audit.entry_hash(
        seq=e.seq,
        at=e.at,
        user_id="innocent",
        role=e.role,
        org_id=e.org_id,
        purpose=e.purpose,
        patient_id=e.patient_id,
        action=e.action,
        detail=e.detail,
        prev_hash=e.prev_hash,
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE gov_audit_log SET user_id='innocent', hash=:h WHERE seq=2"), {"h": forged})
    result = audit.verify(session)
    assert (result.ok, result.first_broken_seq) == (False, 3)


def test_concurrent_appends_form_one_unbroken_chain(engine):
    """Several writers (as web workers would) append at once; the chain must stay linear and complete."""
    maker = make_sessionmaker(engine)
    writers, per_writer = 4, 15
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with maker() as s:
                for i in range(per_writer):
                    audit.record(s, GP, "read_record", [n * 1000 + i])
        except BaseException as err:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with maker() as s:
        result = audit.verify(s)
        assert result.ok, result.reason
        assert result.checked == writers * per_writer
        patients = {e.patient_id for e in audit.entries(s, limit=1000)}
    assert patients == {n * 1000 + i for n in range(writers) for i in range(per_writer)}
