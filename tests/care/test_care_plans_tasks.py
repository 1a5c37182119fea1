"""Shared care plans (optimistic concurrency) and tasks between professionals (status, handover, history)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from carecommons.care import care_plans, tasks
from carecommons.care.care_plans import ActionInput, GoalInput
from carecommons.care.errors import EditConflict
from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit


def _plan(con, session, people):
    return care_plans.create_care_plan(
        con,
        session,
        people.gp,
        101,
        "Living well at home",
        review_date=dt.date(2026, 9, 1),
        goals=[GoalInput("Walk to the shops twice a week"), GoalInput("No falls this winter")],
        actions=[
            ActionInput("Strength and balance classes", goal=1, assignee_role="mdt_member", assignee_org_id="CT1"),
            ActionInput("Home care review", goal=0, due_date=dt.date(2026, 7, 15)),
        ],
    )


def test_create_and_read_a_plan(con, session, people, engine):
    plan = _plan(con, session, people)
    assert plan.version == 1 and plan.owner_user_id == "dr.gp"
    with Session(engine) as other:
        plans = care_plans.care_plans_for_patient(con, other, people.nurse_mdt, 101)
        assert [p.title for p in plans] == ["Living well at home"]
        got = plans[0]
        assert [g.description for g in got.goals] == ["Walk to the shops twice a week", "No falls this winter"]
        assert got.actions[0].goal.description == "No falls this winter"
    actions = [e.action for e in audit.entries_for_patient(session, 101)]
    assert actions == ["care_plan.create", "care_plan.view"]


def test_plan_is_refused_without_a_relationship(con, session, people):
    with pytest.raises(AccessDenied):
        care_plans.create_care_plan(con, session, people.gp, 107, "Plan")  # registered at P2
    with pytest.raises(AccessDenied):
        care_plans.care_plans_for_patient(con, session, people.nurse_mdt, 102)  # not on the caseload
    with pytest.raises(InvalidInput):
        care_plans.create_care_plan(con, session, people.gp, 101, "  ")
    with pytest.raises(InvalidInput):
        care_plans.create_care_plan(con, session, people.gp, 101, "Plan", actions=[ActionInput("x", goal=3)])


def test_stale_edit_is_refused_not_overwritten(con, session, people, engine):
    plan = _plan(con, session, people)
    with Session(engine, expire_on_commit=False) as nurse_session:
        updated = care_plans.update_care_plan(
            con, nurse_session, people.nurse_mdt, plan.id, 1, summary="Lives alone; daughter visits weekly"
        )
        assert updated.version == 2
    # The GP still has version 1 open and saves: refused, and the nurse's text survives.
    with pytest.raises(EditConflict) as err:
        care_plans.update_care_plan(con, session, people.gp, plan.id, 1, title="Overwritten")
    assert "version 1" in str(err.value) and "version 2" in str(err.value)
    with Session(engine) as fresh:
        again = care_plans.get_care_plan(con, fresh, people.gp, plan.id)
        assert (again.title, again.summary, again.version) == (
            "Living well at home",
            "Lives alone; daughter visits weekly",
            2,
        )
        # Re-applying on the current version works and replaces goals and actions together.
        final = care_plans.update_care_plan(
            con,
            fresh,
            people.gp,
            plan.id,
            2,
            goals=[GoalInput("No falls this winter", status="achieved")],
            actions=[ActionInput("Falls clinic referral", goal=0)],
        )
        assert final.version == 3
        assert [(g.description, g.status) for g in final.goals] == [("No falls this winter", "achieved")]
        assert [a.description for a in final.actions] == ["Falls clinic referral"]


def test_racing_saves_on_the_same_version_cannot_both_win(con, engine, people, session):
    plan = _plan(con, session, people)
    with Session(engine) as a, Session(engine) as b:
        pa = a.get(type(plan), plan.id)
        pb = b.get(type(plan), plan.id)
        pa.summary = "A"
        pb.summary = "B"
        a.commit()
        from sqlalchemy.orm.exc import StaleDataError

        with pytest.raises(StaleDataError):
            b.commit()  # the version column guards the race between check and write


def test_task_handover_between_health_and_social_care(con, session, people, engine):
    task = tasks.create_task(
        con,
        session,
        people.gp,
        101,
        "Assess for home adaptations",
        to_role="mdt_member",
        to_org_id="CT1",
        due_date=dt.date(2026, 7, 10),
    )
    assert [t.id for t in tasks.inbox(session, people.nurse_mdt)] == [task.id]
    assert tasks.inbox(session, people.social_worker) == []
    assert [t.id for t in tasks.sent(session, people.gp)] == [task.id]

    t = tasks.set_status(session, people.nurse_mdt, task.id, task.version, "in_progress", note="visiting Friday")
    t = tasks.hand_over(session, people.nurse_mdt, t.id, t.version, to_user_id="sw.social", note="needs OT via LA")
    assert tasks.inbox(session, people.nurse_mdt) == []
    assert [x.id for x in tasks.inbox(session, people.social_worker)] == [task.id]
    t = tasks.set_status(session, people.social_worker, t.id, t.version, "done")
    history = [(h.kind, h.from_status, h.to_status, h.by_user_id) for h in t.history]
    assert history == [
        ("created", None, "open", "dr.gp"),
        ("status", "open", "in_progress", "dn.nurse"),
        ("handover", "in_progress", "open", "dn.nurse"),
        ("status", "open", "done", "sw.social"),
    ]
    assert "user=sw.social" in t.history[2].note
    assert [e.action for e in audit.entries_for_patient(session, 101)][:4] == [
        "task.create",
        "task.inbox",
        "task.sent",
        "task.status",
    ]


def test_task_rules(con, session, people):
    with pytest.raises(InvalidInput):
        tasks.create_task(con, session, people.gp, 101, "No addressee")
    with pytest.raises(InvalidInput):
        tasks.create_task(con, session, people.gp, 101, "Role only", to_role="gp")
    task = tasks.create_task(con, session, people.gp, 101, "Bloods", to_user_id="dn.nurse")
    with pytest.raises(AccessDenied):
        tasks.set_status(session, people.social_worker, task.id, task.version, "done")  # not theirs
    with pytest.raises(AccessDenied):
        tasks.get_task(session, people.social_worker, task.id)
    with pytest.raises(EditConflict):
        tasks.set_status(session, people.nurse_mdt, task.id, task.version + 5, "done")
    t = tasks.set_status(session, people.nurse_mdt, task.id, task.version, "cancelled")
    with pytest.raises(InvalidInput):
        tasks.set_status(session, people.gp, t.id, t.version, "open")  # cancelled is final
    with pytest.raises(InvalidInput):
        tasks.set_status(session, people.gp, t.id, t.version, "finished")
    assert tasks.overdue([t], dt.date(2030, 1, 1)) == []


def test_overdue_and_ordering(con, session, people):
    late = tasks.create_task(con, session, people.gp, 101, "Late", to_user_id="dn.nurse", due_date=dt.date(2026, 1, 1))
    undated = tasks.create_task(con, session, people.gp, 101, "Whenever", to_user_id="dn.nurse")
    soon = tasks.create_task(con, session, people.gp, 101, "Soon", to_user_id="dn.nurse", due_date=dt.date(2026, 7, 1))
    box = tasks.inbox(session, people.nurse_mdt)
    assert [t.id for t in box] == [late.id, soon.id, undated.id]
    assert [t.id for t in tasks.overdue(box, dt.date(2026, 6, 30))] == [late.id]
