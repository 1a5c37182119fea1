"""care: care plans with goals and actions, tasks with history, invitation batches and the outbox.

Revision ID: 0002_care
Revises: 0001_governance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_care"
down_revision = "0001_governance"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "care_plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.BigInteger, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("owner_user_id", sa.String(100), nullable=False),
        sa.Column("owner_role", sa.String(60), nullable=False),
        sa.Column("owner_org_id", sa.String(60), nullable=True),
        sa.Column("review_date", sa.Date, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_care_plans_patient_id", "care_plans", ["patient_id"])

    op.create_table(
        "care_plan_goals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("care_plan_id", sa.Integer, sa.ForeignKey("care_plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("target_date", sa.Date, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_care_plan_goals_plan", "care_plan_goals", ["care_plan_id"])

    op.create_table(
        "care_plan_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("care_plan_id", sa.Integer, sa.ForeignKey("care_plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("goal_id", sa.Integer, sa.ForeignKey("care_plan_goals.id", ondelete="SET NULL"), nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("assignee_role", sa.String(60), nullable=True),
        sa.Column("assignee_org_id", sa.String(60), nullable=True),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_care_plan_actions_plan", "care_plan_actions", ["care_plan_id"])

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.BigInteger, nullable=False),
        sa.Column("care_plan_id", sa.Integer, sa.ForeignKey("care_plans.id", ondelete="SET NULL"), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("from_user_id", sa.String(100), nullable=False),
        sa.Column("from_role", sa.String(60), nullable=False),
        sa.Column("from_org_id", sa.String(60), nullable=True),
        sa.Column("to_user_id", sa.String(100), nullable=True),
        sa.Column("to_role", sa.String(60), nullable=True),
        sa.Column("to_org_id", sa.String(60), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_tasks_patient_id", "tasks", ["patient_id"])
    op.create_index("ix_tasks_to_user_id", "tasks", ["to_user_id"])
    op.create_index("ix_tasks_to_org_id", "tasks", ["to_org_id"])

    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("by_user_id", sa.String(100), nullable=False),
        sa.Column("by_role", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_task_events_task_id", "task_events", ["task_id"])

    op.create_table(
        "invitation_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("practice_id", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("template_id", sa.String(60), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("queued", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
    )
    op.create_index("ix_invitation_batches_practice_id", "invitation_batches", ["practice_id"])

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("invitation_batches.id", ondelete="SET NULL"), nullable=True),
        sa.Column("patient_id", sa.BigInteger, nullable=False),
        sa.Column("practice_id", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("template_id", sa.String(60), nullable=False),
        sa.Column("rendered_text", sa.Text, nullable=False),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    )
    op.create_index("ix_outbox_messages_batch_id", "outbox_messages", ["batch_id"])
    op.create_index("ix_outbox_messages_patient_id", "outbox_messages", ["patient_id"])
    op.create_index("ix_outbox_messages_status", "outbox_messages", ["status"])


def downgrade() -> None:
    for index, table in (
        ("ix_outbox_messages_status", "outbox_messages"),
        ("ix_outbox_messages_patient_id", "outbox_messages"),
        ("ix_outbox_messages_batch_id", "outbox_messages"),
    ):
        op.drop_index(index, table_name=table)
    op.drop_table("outbox_messages")
    op.drop_index("ix_invitation_batches_practice_id", table_name="invitation_batches")
    op.drop_table("invitation_batches")
    op.drop_index("ix_task_events_task_id", table_name="task_events")
    op.drop_table("task_events")
    for index in ("ix_tasks_to_org_id", "ix_tasks_to_user_id", "ix_tasks_patient_id"):
        op.drop_index(index, table_name="tasks")
    op.drop_table("tasks")
    op.drop_index("ix_care_plan_actions_plan", table_name="care_plan_actions")
    op.drop_table("care_plan_actions")
    op.drop_index("ix_care_plan_goals_plan", table_name="care_plan_goals")
    op.drop_table("care_plan_goals")
    op.drop_index("ix_care_plans_patient_id", table_name="care_plans")
    op.drop_table("care_plans")
