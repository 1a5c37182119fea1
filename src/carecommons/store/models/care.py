"""Operational tables of the care layer: care plans, tasks between professionals, the invitation outbox.

They live in the operational database (SQLite / PostgreSQL) because people change them one row at a time
and expect their change to be there a second later; the record store is for analytics. Users, roles and
organisations are referenced by their string ids (as carried by `governance.purposes.Requester`) rather
than by foreign keys into governance tables, so the care schema migrates independently of theirs.

Patient ids are the record-store `patient_id` (BIGINT): the operational DB never copies patient
demographics, only the key.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from carecommons.store.operational import Base


def utcnow() -> dt.datetime:
    """Timezone-aware now; every care timestamp is UTC so SQLite and PostgreSQL order them alike."""
    return dt.datetime.now(dt.UTC)


CARE_PLAN_STATUSES = ("active", "closed")
GOAL_STATUSES = ("open", "achieved", "dropped")
ACTION_STATUSES = ("open", "done", "cancelled")
TASK_STATUSES = ("open", "in_progress", "done", "cancelled")
OUTBOX_CHANNELS = ("sms", "letter")
OUTBOX_STATUSES = ("queued", "sent", "failed")


class CarePlan(Base):
    """A shared care plan for one patient, owned by one professional, edited by the MDT.

    `version` is the optimistic-concurrency counter: every write says which version it was based on,
    and a write based on an older version is refused rather than silently overwriting a colleague.
    """

    __tablename__ = "care_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner_user_id: Mapped[str] = mapped_column(String(100), nullable=False)
    owner_role: Mapped[str] = mapped_column(String(60), nullable=False)
    owner_org_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    review_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)

    goals: Mapped[list[CarePlanGoal]] = relationship(
        back_populates="care_plan", cascade="all, delete-orphan", order_by="CarePlanGoal.position"
    )
    actions: Mapped[list[CarePlanAction]] = relationship(
        back_populates="care_plan", cascade="all, delete-orphan", order_by="CarePlanAction.position"
    )

    __mapper_args__ = {"version_id_col": version}


class CarePlanGoal(Base):
    """What the patient and the team are aiming for, in the patient's words where possible."""

    __tablename__ = "care_plan_goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    target_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")

    care_plan: Mapped[CarePlan] = relationship(back_populates="goals")

    __table_args__ = (Index("ix_care_plan_goals_plan", "care_plan_id"),)


class CarePlanAction(Base):
    """Who does what by when to reach a goal; may belong to health or social care."""

    __tablename__ = "care_plan_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    care_plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"), nullable=False)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("care_plan_goals.id", ondelete="SET NULL"), nullable=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    assignee_role: Mapped[str | None] = mapped_column(String(60), nullable=True)
    assignee_org_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")

    care_plan: Mapped[CarePlan] = relationship(back_populates="actions")
    goal: Mapped[CarePlanGoal | None] = relationship()

    __table_args__ = (Index("ix_care_plan_actions_plan", "care_plan_id"),)


class Task(Base):
    """A piece of work handed from one professional (or team) to another about one patient.

    The addressee may be a named user, a role within an organisation (any district nurse at the
    community trust), or an organisation's team inbox; at least one of the three is set.
    """

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    care_plan_id: Mapped[int | None] = mapped_column(ForeignKey("care_plans.id", ondelete="SET NULL"), nullable=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    from_user_id: Mapped[str] = mapped_column(String(100), nullable=False)
    from_role: Mapped[str] = mapped_column(String(60), nullable=False)
    from_org_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    to_user_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    to_role: Mapped[str | None] = mapped_column(String(60), nullable=True)
    to_org_id: Mapped[str | None] = mapped_column(String(60), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    history: Mapped[list[TaskEvent]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskEvent.id"
    )

    __mapper_args__ = {"version_id_col": version}


class TaskEvent(Base):
    """One entry in a task's history: created, status change, handover, comment. Append-only."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    by_user_id: Mapped[str] = mapped_column(String(100), nullable=False)
    by_role: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # created, status, handover, comment
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")

    task: Mapped[Task] = relationship(back_populates="history")


class InvitationBatch(Base):
    """One press of "invite" on a worklist: which item, which template, how many queued or skipped."""

    __tablename__ = "invitation_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practice_id: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    template_id: Mapped[str] = mapped_column(String(60), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    requested: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    queued: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    messages: Mapped[list[OutboxMessage]] = relationship(back_populates="batch")


class OutboxMessage(Base):
    """A rendered invitation waiting for (or done with) a sender.

    The idempotency key makes "invite" safe to press twice: the same patient, template, channel and
    practice on the same day queue one message, never two.
    """

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation_batches.id", ondelete="SET NULL"), nullable=True, index=True
    )
    patient_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    practice_id: Mapped[str] = mapped_column(String(20), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    template_id: Mapped[str] = mapped_column(String(60), nullable=False)
    rendered_text: Mapped[str] = mapped_column(Text, nullable=False)
    segments: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="queued", index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    batch: Mapped[InvitationBatch | None] = relationship(back_populates="messages")

    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),)
