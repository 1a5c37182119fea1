"""Shared care plans: goals and actions the MDT agrees with the patient, edited without lost updates.

Every read and write is checked against governance (a legitimate relationship with the patient) and
audited. Writes carry the version the editor saw; if a colleague saved in between, `EditConflict` is
raised and nothing is written, so no one's change is silently overwritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from carecommons.care.access import require_patient
from carecommons.care.errors import EditConflict
from carecommons.core.errors import InvalidInput, NotFound
from carecommons.governance.audit import record as audit_record
from carecommons.governance.purposes import Requester
from carecommons.store.models.care import (
    ACTION_STATUSES,
    CARE_PLAN_STATUSES,
    GOAL_STATUSES,
    CarePlan,
    CarePlanAction,
    CarePlanGoal,
    utcnow,
)


@dataclass(frozen=True)
class GoalInput:
    """A goal as typed into the form."""

    description: str
    target_date: dt.date | None = None
    status: str = "open"


@dataclass(frozen=True)
class ActionInput:
    """An action as typed into the form; `goal` is the 0-based position of the goal it serves, if any."""

    description: str
    goal: int | None = None
    assignee_role: str | None = None
    assignee_org_id: str | None = None
    due_date: dt.date | None = None
    status: str = "open"


def _validate(goals: Sequence[GoalInput], actions: Sequence[ActionInput]) -> None:
    for i, g in enumerate(goals, start=1):
        if not g.description.strip():
            raise InvalidInput(f"goal {i}", "the description is empty", "describe the goal or remove it")
        if g.status not in GOAL_STATUSES:
            raise InvalidInput(f"goal {i}", f"status {g.status!r} is not known", f"use one of {GOAL_STATUSES}")
    for i, a in enumerate(actions, start=1):
        if not a.description.strip():
            raise InvalidInput(f"action {i}", "the description is empty", "describe the action or remove it")
        if a.status not in ACTION_STATUSES:
            raise InvalidInput(f"action {i}", f"status {a.status!r} is not known", f"use one of {ACTION_STATUSES}")
        if a.goal is not None and not 0 <= a.goal < len(goals):
            raise InvalidInput(f"action {i}", "it points at a goal that does not exist", "choose one of the goals")


def _apply_children(plan: CarePlan, goals: Sequence[GoalInput], actions: Sequence[ActionInput]) -> None:
    plan.goals.clear()
    plan.actions.clear()
    goal_rows = [
        CarePlanGoal(position=i, description=g.description.strip(), target_date=g.target_date, status=g.status)
        for i, g in enumerate(goals)
    ]
    plan.goals.extend(goal_rows)
    for i, a in enumerate(actions):
        action = CarePlanAction(
            position=i,
            description=a.description.strip(),
            assignee_role=a.assignee_role or None,
            assignee_org_id=a.assignee_org_id or None,
            due_date=a.due_date,
            status=a.status,
        )
        if a.goal is not None:
            action.goal = goal_rows[a.goal]
        plan.actions.append(action)


def create_care_plan(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    title: str,
    *,
    summary: str = "",
    review_date: dt.date | None = None,
    goals: Sequence[GoalInput] = (),
    actions: Sequence[ActionInput] = (),
) -> CarePlan:
    """Start a care plan for a patient the requester cares for; the requester owns it."""
    require_patient(con, session, requester, patient_id)
    if not title.strip():
        raise InvalidInput("title", "the care plan has no title", "give it a short title, e.g. 'Frailty plan'")
    _validate(goals, actions)
    plan = CarePlan(
        patient_id=int(patient_id),
        title=title.strip(),
        summary=summary.strip(),
        owner_user_id=requester.user_id,
        owner_role=requester.role,
        owner_org_id=requester.org_id,
        review_date=review_date,
        status="active",
        updated_by=requester.user_id,
    )
    session.add(plan)
    _apply_children(plan, goals, actions)
    session.flush()
    audit_record(session, requester, "care_plan.create", [int(patient_id)], detail=f"care_plan={plan.id}")
    return plan


def _load(session: Session, plan_id: int) -> CarePlan:
    plan = session.execute(
        select(CarePlan)
        .where(CarePlan.id == plan_id)
        .options(selectinload(CarePlan.goals), selectinload(CarePlan.actions))
        .execution_options(populate_existing=True)  # the version in the DB, not a stale cached copy
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound("care_plan", f"no care plan {plan_id}", "open the patient's record to see their plans")
    return plan


def care_plans_for_patient(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    *,
    include_closed: bool = False,
    audit: bool = True,
) -> list[CarePlan]:
    """The patient's care plans, newest first; audited as a view unless the caller already audited the page."""
    require_patient(con, session, requester, patient_id)
    stmt = (
        select(CarePlan)
        .where(CarePlan.patient_id == int(patient_id))
        .options(selectinload(CarePlan.goals), selectinload(CarePlan.actions))
        .order_by(CarePlan.updated_at.desc(), CarePlan.id.desc())
    )
    if not include_closed:
        stmt = stmt.where(CarePlan.status == "active")
    plans = list(session.execute(stmt).scalars())
    if audit:
        audit_record(session, requester, "care_plan.view", [int(patient_id)], detail=f"plans={len(plans)}")
    return plans


def get_care_plan(con: duckdb.DuckDBPyConnection, session: Session, requester: Requester, plan_id: int) -> CarePlan:
    """One care plan with goals and actions, after checking the requester may see its patient; audited."""
    plan = _load(session, plan_id)
    require_patient(con, session, requester, plan.patient_id)
    audit_record(session, requester, "care_plan.view", [plan.patient_id], detail=f"care_plan={plan.id}")
    return plan


def update_care_plan(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    plan_id: int,
    expected_version: int,
    *,
    title: str | None = None,
    summary: str | None = None,
    review_date: dt.date | None = None,
    clear_review_date: bool = False,
    status: str | None = None,
    goals: Sequence[GoalInput] | None = None,
    actions: Sequence[ActionInput] | None = None,
) -> CarePlan:
    """Save an edit made on `expected_version`; EditConflict if the plan moved on since.

    Goals and actions, when given, replace the plan's lists (the form always shows and posts them all).
    """
    plan = _load(session, plan_id)
    require_patient(con, session, requester, plan.patient_id)
    if plan.version != expected_version:
        session.rollback()
        raise EditConflict(
            "care_plan",
            f"it was changed by someone else (you edited version {expected_version}, it is now at "
            f"version {plan.version})",
            "reload the plan, check their changes and apply yours again",
        )
    if status is not None and status not in CARE_PLAN_STATUSES:
        raise InvalidInput("status", f"{status!r} is not a care plan status", f"use one of {CARE_PLAN_STATUSES}")
    if title is not None:
        if not title.strip():
            raise InvalidInput("title", "the care plan has no title", "give it a short title")
        plan.title = title.strip()
    if summary is not None:
        plan.summary = summary.strip()
    if review_date is not None or clear_review_date:
        plan.review_date = review_date
    if status is not None:
        plan.status = status
    if goals is not None or actions is not None:
        new_goals = (
            goals if goals is not None else [GoalInput(g.description, g.target_date, g.status) for g in plan.goals]
        )
        if actions is None:
            raise InvalidInput("actions", "goals were replaced without the actions", "post goals and actions together")
        _validate(new_goals, actions)
        _apply_children(plan, new_goals, actions)
    plan.updated_at = utcnow()
    plan.updated_by = requester.user_id
    try:
        session.flush()  # the version_id_col UPDATE ... WHERE version = n catches a save that raced ours
    except StaleDataError as err:
        session.rollback()
        raise EditConflict(
            "care_plan", "it was saved by someone else at the same moment", "reload the plan and apply yours again"
        ) from err
    audit_record(
        session, requester, "care_plan.update", [plan.patient_id], detail=f"care_plan={plan.id} v={plan.version}"
    )
    return plan
