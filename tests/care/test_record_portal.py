"""The linked patient record (governed, audited, break-glass) and the patient/carer portal."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from care_testdata import CANCER, INDEX
from sqlalchemy import select

from carecommons.care import care_plans, portal
from carecommons.care.record import RiskScore, patient_record
from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit
from carecommons.governance.cohort import allowed_patients
from carecommons.store.models.governance import BreakGlassAlert


def test_gp_sees_the_linked_record(con, session, people):
    care_plans.create_care_plan(con, session, people.gp, 101, "Frailty plan")
    rec = patient_record(
        con, session, people.gp, 101, index_date=INDEX, risk_scores=[RiskScore("eFI", 0.25, "moderate frailty")]
    )
    d = rec.demographics
    assert (d.given_name, d.family_name, d.age, d.practice_id, d.practice_name) == (
        "Ann",
        "Able",
        60,
        "P1",
        "THE GREEN SURGERY",
    )
    assert [r.label for r in rec.registers] == ["Hypertension"]
    assert rec.registers[0].first_recorded == dt.date(2020, 5, 1)
    sbp = rec.readings["Systolic blood pressure"]
    assert [(r.date, r.value, r.unit) for r in sbp] == [(dt.date(2025, 1, 10), 150.0, "mm[Hg]")]
    assert [i.rule_id for i in rec.care_gaps] == ["hyp-bp-review"]
    assert [p.title for p in rec.care_plans] == ["Frailty plan"]
    assert rec.risk_scores[0].category == "moderate frailty"
    # Hospital: RAL shares with P1, RRV has no agreement -> withheld and said so.
    assert [h.record_id for h in rec.hospital] == ["H-1"]
    assert rec.hospital[0].diagnosis != f"SNOMED CT {CANCER}"  # named from the codelist
    assert len(rec.withheld) == 1 and "RRV" in rec.withheld[0]
    assert [s.service_type for s in rec.social_care] == ["Home care"]
    sources = {e.source for e in rec.timeline()}
    assert sources == {"GP", "Hospital", "Social care"}
    dates = [e.date for e in rec.timeline()]
    assert dates == sorted(dates, reverse=True)
    views = [e for e in audit.entries_for_patient(session, 101) if e.action == "record.view"]
    assert len(views) == 1 and views[0].purpose == "direct_care" and views[0].user_id == "dr.gp"


def test_links_follow_the_person_not_just_one_gp_record(con, session, people):
    """A second GP record of the same person (duplicate registration) brings its linked discharge along."""
    con.execute(
        "INSERT INTO person_index VALUES (101, 'gp', '111', 111, 'probabilistic', 0.97, 9.0, 'run-1'), "
        "(101, 'hospital', 'H-3', 111, 'nhs_number', NULL, NULL, 'run-1')"
    )
    con.execute(
        "INSERT INTO hospital_records (record_id, trust_code, admission_date, discharge_date, load_id) "
        "VALUES ('H-3', 'RAL', DATE '2024-03-01', DATE '2024-03-04', 'L1')"
    )
    rec = patient_record(con, session, people.gp, 101, index_date=INDEX)
    assert [h.record_id for h in rec.hospital] == ["H-1", "H-3"]


def test_record_without_linkage_says_so(con, session, people):
    con.execute("DROP TABLE person_index")
    rec = patient_record(con, session, people.gp, 101, index_date=INDEX)
    assert rec.linkage_available is False and rec.hospital == [] and rec.social_care == []


def test_explicit_links_override_the_index(con, session, people):
    rec = patient_record(con, session, people.gp, 102, index_date=INDEX, linked_records=[("hospital", "H-1")])
    assert [h.record_id for h in rec.hospital] == ["H-1"]


def test_no_relationship_is_refused_and_break_glass_is_alerted(con, session, people):
    with pytest.raises(AccessDenied):
        patient_record(con, session, people.nurse_mdt, 102, index_date=INDEX)
    assert [e for e in audit.entries_for_patient(session, 102) if e.action == "record.view"] == []
    short = dataclasses.replace(people.nurse_mdt, break_glass_reason="urgent")
    with pytest.raises(AccessDenied):
        patient_record(con, session, short, 102, index_date=INDEX)
    glass = dataclasses.replace(people.nurse_mdt, break_glass_reason="Found collapsed at home, GP unreachable")
    rec = patient_record(con, session, glass, 102, index_date=INDEX)
    assert rec.break_glass and rec.demographics.given_name == "Bob"
    alerts = session.execute(select(BreakGlassAlert)).scalars().all()
    assert [(a.user_id, a.patient_id) for a in alerts] == [("dn.nurse", 102)]
    actions = [e.action for e in audit.entries_for_patient(session, 102)]
    assert actions == ["break_glass", "record.view"]
    assert "break_glass=yes" in audit.entries_for_patient(session, 102)[-1].detail


def test_patient_sees_own_summary_and_who_looked(con, session, people):
    patient_record(con, session, people.gp, 101, index_date=INDEX)
    rec = portal.summary(con, session, people.patient, 101, index_date=INDEX)
    assert rec.demographics.given_name == "Ann" and rec.tasks == []
    with pytest.raises(AccessDenied):
        portal.summary(con, session, people.patient, 102, index_date=INDEX)
    log = portal.access_log(con, session, people.patient, 101).entries
    assert [(e.who, e.what, e.why, e.is_self) for e in log] == [
        ("pt.ann", "Looked at your record", "your care", True),
        ("Dr Grey", "Looked at your record", "your care", False),
    ]
    assert log[1].organisation == "THE GREEN SURGERY" and log[1].role == "gp"


def test_access_log_pages_newest_first_through_every_entry(con, session, people):
    for i in range(7):
        audit.record(session, people.gp, "worklist.view", patient_ids=[101], detail=f"view {i}")
    first = portal.access_log(con, session, people.patient, 101, per_page=3)
    assert (first.total, first.pages, first.page) == (7, 3, 1)
    seqs = []
    for page in range(1, 4):
        log = portal.access_log(con, session, people.patient, 101, page=page, per_page=3)
        assert len(log.entries) == (3 if page < 3 else 1)
        seqs += [e.at for e in log.entries]
    assert seqs == sorted(seqs, reverse=True)  # newest first across pages, none repeated or skipped
    assert len(seqs) == 7
    everything = [(e.who, e.what) for e in portal.access_log(con, session, people.patient, 101).entries]
    assert everything == [("Dr Grey", "Saw you on a practice worklist (who is due a check-up)")] * 7
    with pytest.raises(InvalidInput, match="past the last page"):
        portal.access_log(con, session, people.patient, 101, page=4, per_page=3)
    with pytest.raises(InvalidInput, match="page number"):
        portal.access_log(con, session, people.patient, 101, page=0)


def test_opt_out_takes_effect_at_once(con, session, people):
    choices = {c.kind: c.opted_out for c in portal.choices(con, session, people.patient, 101)}
    assert choices == {"type1": False, "ndop": False}
    portal.set_choice(con, session, people.patient, 101, "ndop", True)
    assert {c.kind: c.opted_out for c in portal.choices(con, session, people.patient, 101)}["ndop"] is True
    from carecommons.governance.optouts import platform_opted_out_ids

    assert 101 in platform_opted_out_ids(session)
    portal.set_choice(con, session, people.carer, 101, "ndop", False)  # the consented carer withdraws it
    assert 101 not in platform_opted_out_ids(session)
    latest = portal.choices(con, session, people.patient, 101)
    assert [c.changed_by for c in latest if c.kind == "ndop"] == ["carer.cal"]
    log = portal.access_log(con, session, people.patient, 101).entries
    assert [e.what for e in log][:2] == ["Changed your data-sharing choices"] * 2


def test_opt_out_removes_patient_from_planning_cohort(con, session, people):
    from carecommons.governance.agreements import Flow, add_agreement
    from carecommons.governance.purposes import Purpose

    add_agreement(
        session, "NCL planning", "P1", "icb:NCL", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], dt.date(2020, 1, 1)
    )

    def planning_ids() -> set[int]:
        table = allowed_patients(con, people.analyst, session)
        return {r[0] for r in con.execute(f"SELECT patient_id FROM {table}").fetchall()}

    assert 101 in planning_ids()
    portal.set_choice(con, session, people.patient, 101, "type1", True)
    assert 101 not in planning_ids()
    portal.set_choice(con, session, people.patient, 101, "type1", False)
    assert 101 in planning_ids()


def test_carer_without_consent_is_refused(con, session, people):
    assert portal.patients_for(session, people.carer_no_consent, None) == []
    assert portal.patients_for(session, people.carer, None) == [101]
    with pytest.raises(AccessDenied):
        portal.summary(con, session, people.carer_no_consent, 101, index_date=INDEX)
    with pytest.raises(AccessDenied):
        portal.set_choice(con, session, people.carer_no_consent, 101, "ndop", True)
    with pytest.raises(AccessDenied):
        portal.access_log(con, session, people.carer_no_consent, 101)
    with pytest.raises(AccessDenied):
        portal.summary(con, session, people.gp, 101)  # professionals use the professional pages
    rec = portal.summary(con, session, people.carer, 101, index_date=INDEX)
    assert rec.demographics.patient_id == 101


def test_every_audited_care_action_has_words_for_patients():
    """Each action the care layer and its pages write to the audit chain is explained on the access log."""
    import re
    from pathlib import Path

    root = Path(portal.__file__).resolve().parents[1]
    files = [*(root / "care").glob("*.py"), *(root / "web" / "routes").glob("care_*.py")]
    pattern = re.compile(r"(?:audit_record|audit\.record)\(\s*session,\s*\w+,\s*\"([a-z_.]+)\"", re.S)
    passed_on = re.compile(r"audit_action(?:: str)?\s*=\s*\"([a-z_.]+)\"")
    actions = {a for f in files for p in (pattern, passed_on) for a in p.findall(f.read_text())}
    assert {"record.view", "worklist.view", "invite.batch", "caseload.view", "patient.search"} <= actions
    assert actions - set(portal.ACTION_TEXT) == set()
