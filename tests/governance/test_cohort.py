"""The access policy end to end: a real DuckDB record store and the operational DB on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from gov_testdata import TODAY
from sqlalchemy import select

from carecommons.core.errors import AccessDenied
from carecommons.governance import audit, optouts, orgs, relationships, research, users
from carecommons.governance.agreements import Flow, add_agreement
from carecommons.governance.cohort import allowed_patients, check_patient_access
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.models.governance import BreakGlassAlert

PW = "correct horse battery"


def ids(con, table: str) -> set[int]:
    return {r[0] for r in con.execute(f"SELECT patient_id FROM {table}").fetchall()}


@pytest.fixture
def world(session, store):
    """Organisations from the store plus one user per interesting role."""
    orgs.sync_from_store(session, store)
    users.create_user(session, "gp.a1", PW, "gp", "A1")
    users.create_user(session, "pm.a2", PW, "practice_manager", "A2")
    users.create_user(session, "dn.pcna", PW, "mdt_member", "PCN-A", profession="district_nurse")
    users.create_user(session, "sw.alpha", PW, "mdt_member", "la:Alpha", profession="social_worker")
    users.create_user(session, "analyst.ncl", PW, "analyst", "icb:NCL")
    users.create_user(session, "analyst.alpha", PW, "analyst", "borough:Alpha")
    users.create_user(session, "pat.1", PW, "patient", None, patient_id=1)
    users.create_user(session, "carer.1", PW, "carer", None)
    users.create_user(session, "ops", PW, "operator", "london")
    return session, store


def req(session, username: str, purpose: Purpose, **kw) -> Requester:
    return users.requester_for(users.get_user(session, username), purpose, **kw)


def test_gp_sees_patients_currently_registered_at_their_practice(world):
    session, con = world
    name = allowed_patients(con, req(session, "gp.a1", Purpose.DIRECT_CARE), session, today=TODAY)
    assert ids(con, name) == {1, 2, 3}  # 8 left A1 in 2020; Type 1 opt-out does not limit direct care
    assert con.execute(f"SELECT typeof(patient_id) FROM {name} LIMIT 1").fetchone()[0] == "BIGINT"


def test_practice_manager_of_another_practice_sees_only_that_list(world):
    session, con = world
    name = allowed_patients(con, req(session, "pm.a2", Purpose.DIRECT_CARE), session, today=TODAY)
    assert ids(con, name) == {4, 5}


def test_two_requesters_on_one_connection_get_separate_views(world):
    session, con = world
    a = allowed_patients(con, req(session, "gp.a1", Purpose.DIRECT_CARE), session, today=TODAY)
    b = allowed_patients(con, req(session, "pm.a2", Purpose.DIRECT_CARE), session, today=TODAY)
    assert a != b and ids(con, a) == {1, 2, 3} and ids(con, b) == {4, 5}


def test_mdt_member_needs_an_agreement_then_sees_only_their_caseload(world):
    session, con = world
    for pid in (1, 4, 6):
        relationships.add_to_caseload(session, "dn.pcna", pid, added_by="gp.a1")
    r = req(session, "dn.pcna", Purpose.DIRECT_CARE)
    with pytest.raises(AccessDenied, match="agreement"):
        allowed_patients(con, r, session, today=TODAY)
    add_agreement(
        session,
        "Alpha MDT",
        "borough:Alpha",
        "borough:Alpha",
        [Purpose.DIRECT_CARE],
        [Flow.GP_TO_MDT],
        valid_from=dt.date(2026, 1, 1),
    )
    # Patient 6 is registered in Beta, outside the agreement: on the caseload but not visible.
    assert ids(con, allowed_patients(con, r, session, today=TODAY)) == {1, 4}
    relationships.remove_from_caseload(session, "dn.pcna", 4)
    assert ids(con, allowed_patients(con, r, session, today=TODAY)) == {1}


def test_expired_agreement_refuses_the_flow(world):
    session, con = world
    relationships.add_to_caseload(session, "sw.alpha", 1, added_by="gp.a1")
    add_agreement(
        session,
        "old",
        "borough:Alpha",
        "borough:Alpha",
        [Purpose.DIRECT_CARE],
        [Flow.GP_TO_MDT],
        valid_from=dt.date(2020, 1, 1),
        valid_to=dt.date(2025, 12, 31),
    )
    with pytest.raises(AccessDenied):
        allowed_patients(con, req(session, "sw.alpha", Purpose.DIRECT_CARE), session, today=TODAY)


def test_patient_sees_own_record_and_carer_only_with_consent(world):
    session, con = world
    assert ids(con, allowed_patients(con, req(session, "pat.1", Purpose.DIRECT_CARE), session)) == {1}
    carer = req(session, "carer.1", Purpose.DIRECT_CARE)
    assert ids(con, allowed_patients(con, carer, session)) == set()
    relationships.grant_carer_proxy(session, 1, "carer.1")
    assert ids(con, allowed_patients(con, carer, session)) == {1}
    relationships.withdraw_carer_proxy(session, 1, "carer.1")
    assert ids(con, allowed_patients(con, carer, session)) == set()


def test_break_glass_opens_a_record_and_raises_an_alert_and_audit_entry(world):
    session, con = world
    r = req(session, "gp.a1", Purpose.DIRECT_CARE, break_glass_reason="unconscious in A&E, no next of kin")
    with pytest.raises(AccessDenied):
        check_patient_access(con, req(session, "gp.a1", Purpose.DIRECT_CARE), session, 6, today=TODAY)
    check_patient_access(con, r, session, 6, today=TODAY)
    alerts = session.scalars(select(BreakGlassAlert)).all()
    assert [(a.user_id, a.patient_id) for a in alerts] == [("gp.a1", 6)]
    assert [e.action for e in audit.entries_for_patient(session, 6)] == ["break_glass"]
    assert audit.verify(session).ok


def test_break_glass_needs_a_reason_and_a_clinical_role(world):
    session, con = world
    with pytest.raises(AccessDenied, match="reason"):
        allowed_patients(con, req(session, "gp.a1", Purpose.DIRECT_CARE, break_glass_reason="x"), session)
    with pytest.raises(AccessDenied, match="may not break the glass"):
        allowed_patients(
            con, req(session, "pm.a2", Purpose.DIRECT_CARE, break_glass_reason="a long enough reason"), session
        )
    assert session.scalars(select(BreakGlassAlert)).all() == []


def test_roles_and_purposes_that_do_not_match_are_refused(world):
    session, con = world
    with pytest.raises(AccessDenied, match="may not act for"):
        allowed_patients(con, req(session, "analyst.ncl", Purpose.DIRECT_CARE), session)
    with pytest.raises(AccessDenied, match="may not act for"):
        allowed_patients(con, req(session, "gp.a1", Purpose.PLANNING), session)
    with pytest.raises(AccessDenied, match="may not act for"):
        allowed_patients(con, req(session, "ops", Purpose.PLANNING), session)


def test_a_requester_claiming_a_role_the_account_does_not_hold_is_refused(world):
    session, con = world
    forged = Requester(user_id="pm.a2", role="gp", org_id="A2", purpose=Purpose.DIRECT_CARE)
    with pytest.raises(AccessDenied, match="does not hold"):
        allowed_patients(con, forged, session)
    ghost = Requester(user_id="nobody", role="gp", org_id="A1", purpose=Purpose.DIRECT_CARE)
    with pytest.raises(AccessDenied, match="not an active account"):
        allowed_patients(con, ghost, session)
    users.deactivate(session, "gp.a1")
    with pytest.raises(AccessDenied, match="not an active account"):
        allowed_patients(con, req(session, "gp.a1", Purpose.DIRECT_CARE), session)


def test_planning_without_agreement_is_refused(world):
    session, con = world
    with pytest.raises(AccessDenied, match="agreement"):
        allowed_patients(con, req(session, "analyst.ncl", Purpose.PLANNING), session, today=TODAY)


def test_planning_excludes_type1_latest_code_wins_and_respects_agreement_scope(world):
    session, con = world
    add_agreement(
        session,
        "NCL planning",
        "icb:NCL",
        "icb:NCL",
        [Purpose.PLANNING],
        [Flow.GP_TO_PLANNING],
        valid_from=dt.date(2026, 1, 1),
    )
    r = req(session, "analyst.alpha", Purpose.PLANNING)  # borough analyst inside NCL: covered by the ICB agreement
    # NCL practices: patients 1,2,3,4,5,8; 2 opted out (Type 1); 4 withdrew dissent; Beta (6,7) outside.
    assert ids(con, allowed_patients(con, r, session, today=TODAY)) == {1, 3, 4, 5, 8}


def test_national_data_opt_out_and_platform_choices_apply_at_once(world):
    session, con = world
    add_agreement(
        session, "London", "london", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], valid_from=dt.date(2026, 1, 1)
    )
    r = req(session, "analyst.ncl", Purpose.PLANNING)
    before = ids(con, allowed_patients(con, r, session, today=TODAY))
    assert before == {1, 3, 4, 5, 7, 8}  # 2 and 6 Type 1; NCL analyst covered by London agreement
    optouts.record_ndop(session, nhs_numbers=["943 476 5919"], batch="2026-11")  # patient 1 by NHS number
    optouts.record_ndop(session, patient_ids=[7])
    optouts.set_patient_choice(session, 5, "ndop", True, recorded_by="pat.5")
    assert ids(con, allowed_patients(con, r, session, today=TODAY)) == {3, 4, 8}
    optouts.set_patient_choice(session, 5, "ndop", False, recorded_by="pat.5")  # changed their mind
    assert ids(con, allowed_patients(con, r, session, today=TODAY)) == {3, 4, 5, 8}
    assert [c.opted_out for c in optouts.patient_choices(session, 5)] == [True, False]


def test_research_needs_an_approved_unexpired_project_of_the_requesters_org(world):
    session, con = world
    add_agreement(
        session, "London", "london", "london", [Purpose.RESEARCH], [Flow.GP_TO_RESEARCH], valid_from=dt.date(2026, 1, 1)
    )
    with pytest.raises(AccessDenied, match="project"):
        allowed_patients(con, req(session, "analyst.ncl", Purpose.RESEARCH), session, today=TODAY)
    research.create_project(session, "RP1", "Frailty", "icb:NCL")
    r = req(session, "analyst.ncl", Purpose.RESEARCH, project_id="RP1")
    with pytest.raises(AccessDenied, match="pending"):
        allowed_patients(con, r, session, today=TODAY)
    research.approve_project(session, "RP1", approved_by="ig", expires_on=dt.date(2027, 1, 1))
    assert ids(con, allowed_patients(con, r, session, today=TODAY)) == {1, 3, 4, 5, 7, 8}
    with pytest.raises(AccessDenied, match="expired"):
        allowed_patients(con, r, session, today=dt.date(2027, 6, 1))
    # A borough analyst may work under the ICB's project; an analyst elsewhere may not.
    users.create_user(session, "analyst.beta", PW, "analyst", "borough:Beta")
    with pytest.raises(AccessDenied, match="not held"):
        allowed_patients(con, req(session, "analyst.beta", Purpose.RESEARCH, project_id="RP1"), session, today=TODAY)


def test_planning_agreement_does_not_open_research(world):
    session, con = world
    add_agreement(
        session, "London", "london", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], valid_from=dt.date(2026, 1, 1)
    )
    research.create_project(session, "RP2", "x", "london")
    research.approve_project(session, "RP2", approved_by="ig")
    users.create_user(session, "analyst.ldn", PW, "analyst", "london")
    r = req(session, "analyst.ldn", Purpose.RESEARCH, project_id="RP2")
    with pytest.raises(AccessDenied, match="gp->research"):
        allowed_patients(con, r, session, today=TODAY)


def test_every_governance_change_is_audited_and_the_chain_holds(world):
    session, con = world
    optouts.set_patient_choice(session, 1, "ndop", True, recorded_by="pat.1")
    relationships.add_to_caseload(session, "dn.pcna", 4, added_by="gp.a1")
    relationships.grant_carer_proxy(session, 1, "carer.1", actor="pat.1")
    add_agreement(
        session,
        "L",
        "london",
        "london",
        [Purpose.PLANNING],
        [Flow.GP_TO_PLANNING],
        valid_from=dt.date(2026, 1, 1),
        actor="ig.lead",
    )
    users.deactivate(session, "ops", actor="ig.lead")
    about_1 = [
        (e.action, e.user_id, e.role, e.purpose) for e in audit.entries_for_patient(session, 1, include_changes=True)
    ]
    assert about_1 == [
        ("ndop_opt_out", "pat.1", "patient", "administration"),
        ("carer_consent_given", "pat.1", "patient", "administration"),
    ]
    assert audit.entries_for_patient(session, 1) == []  # by default only data access shows
    assert [(e.action, e.user_id, e.role) for e in audit.entries_for_patient(session, 4, include_changes=True)] == [
        ("caseload_add", "gp.a1", "gp")
    ]
    actions = [e.action for e in reversed(audit.entries(session, limit=100))]
    assert actions.count("user_created") == 9
    assert actions[-2:] == ["agreement_added", "user_deactivated"]
    assert audit.verify(session).ok


def test_break_glass_alerts_stay_open_until_an_ig_lead_reviews_them(world):
    from carecommons.governance import breakglass

    session, con = world
    r = req(session, "gp.a1", Purpose.DIRECT_CARE, break_glass_reason="collapsed in the waiting room")
    check_patient_access(con, r, session, 7, today=TODAY)
    [alert] = breakglass.open_alerts(session)
    assert (alert.patient_id, alert.reason) == (7, "collapsed in the waiting room")
    with pytest.raises(AccessDenied):
        breakglass.review_alert(session, alert.id, "gp.a1")
    users.create_user(session, "ig", PW, "ig_lead", "icb:NCL")
    breakglass.review_alert(session, alert.id, "ig")
    assert breakglass.open_alerts(session) == []
    assert [e.action for e in audit.entries_for_patient(session, 7)] == ["break_glass"]
    assert [e.action for e in audit.entries_for_patient(session, 7, include_changes=True)] == [
        "break_glass",
        "break_glass_reviewed",
    ]
