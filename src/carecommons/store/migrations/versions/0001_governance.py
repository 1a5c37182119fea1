"""governance: organisations, users, relationships, agreements, opt-outs, break-glass alerts, audit chain.

Revision ID: 0001_governance
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_governance"
down_revision = None
branch_labels = None
depends_on = None

#: prev_hash of the first audit entry.
GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "gov_audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gov_audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_gov_audit_log_patient_id"), "gov_audit_log", ["patient_id"], unique=False)
    op.create_index(op.f("ix_gov_audit_log_user_id"), "gov_audit_log", ["user_id"], unique=False)
    op.create_table(
        "gov_break_glass_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=True),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_gov_break_glass_alerts_patient_id"), "gov_break_glass_alerts", ["patient_id"], unique=False
    )
    op.create_index(op.f("ix_gov_break_glass_alerts_user_id"), "gov_break_glass_alerts", ["user_id"], unique=False)
    op.create_table(
        "gov_ndop_opt_outs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=True),
        sa.Column("patient_id", sa.BigInteger(), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_gov_ndop_opt_outs_nhs_number"), "gov_ndop_opt_outs", ["nhs_number"], unique=False)
    op.create_index(op.f("ix_gov_ndop_opt_outs_patient_id"), "gov_ndop_opt_outs", ["patient_id"], unique=False)
    op.create_table(
        "gov_organisations",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_type", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["gov_organisations.org_id"],
        ),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_index(op.f("ix_gov_organisations_org_type"), "gov_organisations", ["org_type"], unique=False)
    op.create_index(op.f("ix_gov_organisations_parent_id"), "gov_organisations", ["parent_id"], unique=False)
    op.create_table(
        "gov_patient_choices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gov_patient_choices_patient_kind", "gov_patient_choices", ["patient_id", "kind"], unique=False)
    op.create_table(
        "gov_agreements",
        sa.Column("agreement_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("from_org_id", sa.String(length=64), nullable=False),
        sa.Column("to_org_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_org_id"],
            ["gov_organisations.org_id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_org_id"],
            ["gov_organisations.org_id"],
        ),
        sa.PrimaryKeyConstraint("agreement_id"),
    )
    op.create_index(op.f("ix_gov_agreements_from_org_id"), "gov_agreements", ["from_org_id"], unique=False)
    op.create_index(op.f("ix_gov_agreements_to_org_id"), "gov_agreements", ["to_org_id"], unique=False)
    op.create_table(
        "gov_research_projects",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["gov_organisations.org_id"],
        ),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_index(op.f("ix_gov_research_projects_org_id"), "gov_research_projects", ["org_id"], unique=False)
    op.create_table(
        "gov_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.Column("profession", sa.String(length=32), nullable=True),
        sa.Column("patient_id", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["gov_organisations.org_id"],
        ),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index(op.f("ix_gov_users_org_id"), "gov_users", ["org_id"], unique=False)
    op.create_index(op.f("ix_gov_users_patient_id"), "gov_users", ["patient_id"], unique=False)
    op.create_index(op.f("ix_gov_users_role"), "gov_users", ["role"], unique=False)
    op.create_table(
        "gov_agreement_permissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["gov_agreements.agreement_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "purpose", "flow", name="uq_gov_agreement_permission"),
    )
    op.create_index(
        op.f("ix_gov_agreement_permissions_agreement_id"), "gov_agreement_permissions", ["agreement_id"], unique=False
    )
    op.create_table(
        "gov_carer_proxies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=False),
        sa.Column("carer_user_id", sa.String(length=64), nullable=False),
        sa.Column("consent_given_at", sa.DateTime(), nullable=False),
        sa.Column("consent_withdrawn_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["carer_user_id"],
            ["gov_users.user_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_gov_carer_proxies_carer_user_id"), "gov_carer_proxies", ["carer_user_id"], unique=False)
    op.create_index(op.f("ix_gov_carer_proxies_patient_id"), "gov_carer_proxies", ["patient_id"], unique=False)
    op.create_table(
        "gov_caseload",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["gov_users.user_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "patient_id", name="uq_gov_caseload_user_patient"),
    )
    op.create_index(op.f("ix_gov_caseload_patient_id"), "gov_caseload", ["patient_id"], unique=False)
    op.create_index(op.f("ix_gov_caseload_user_id"), "gov_caseload", ["user_id"], unique=False)
    # The chain head row that appenders lock; the audit chain starts empty.
    head = sa.table("gov_audit_head", sa.column("id"), sa.column("last_seq"), sa.column("last_hash"))
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}])


def downgrade() -> None:
    op.drop_index(op.f("ix_gov_caseload_user_id"), table_name="gov_caseload")
    op.drop_index(op.f("ix_gov_caseload_patient_id"), table_name="gov_caseload")
    op.drop_table("gov_caseload")
    op.drop_index(op.f("ix_gov_carer_proxies_patient_id"), table_name="gov_carer_proxies")
    op.drop_index(op.f("ix_gov_carer_proxies_carer_user_id"), table_name="gov_carer_proxies")
    op.drop_table("gov_carer_proxies")
    op.drop_index(op.f("ix_gov_agreement_permissions_agreement_id"), table_name="gov_agreement_permissions")
    op.drop_table("gov_agreement_permissions")
    op.drop_index(op.f("ix_gov_users_role"), table_name="gov_users")
    op.drop_index(op.f("ix_gov_users_patient_id"), table_name="gov_users")
    op.drop_index(op.f("ix_gov_users_org_id"), table_name="gov_users")
    op.drop_table("gov_users")
    op.drop_index(op.f("ix_gov_research_projects_org_id"), table_name="gov_research_projects")
    op.drop_table("gov_research_projects")
    op.drop_index(op.f("ix_gov_agreements_to_org_id"), table_name="gov_agreements")
    op.drop_index(op.f("ix_gov_agreements_from_org_id"), table_name="gov_agreements")
    op.drop_table("gov_agreements")
    op.drop_index("ix_gov_patient_choices_patient_kind", table_name="gov_patient_choices")
    op.drop_table("gov_patient_choices")
    op.drop_index(op.f("ix_gov_organisations_parent_id"), table_name="gov_organisations")
    op.drop_index(op.f("ix_gov_organisations_org_type"), table_name="gov_organisations")
    op.drop_table("gov_organisations")
    op.drop_index(op.f("ix_gov_ndop_opt_outs_patient_id"), table_name="gov_ndop_opt_outs")
    op.drop_index(op.f("ix_gov_ndop_opt_outs_nhs_number"), table_name="gov_ndop_opt_outs")
    op.drop_table("gov_ndop_opt_outs")
    op.drop_index(op.f("ix_gov_break_glass_alerts_user_id"), table_name="gov_break_glass_alerts")
    op.drop_index(op.f("ix_gov_break_glass_alerts_patient_id"), table_name="gov_break_glass_alerts")
    op.drop_table("gov_break_glass_alerts")
    op.drop_index(op.f("ix_gov_audit_log_user_id"), table_name="gov_audit_log")
    op.drop_index(op.f("ix_gov_audit_log_patient_id"), table_name="gov_audit_log")
    op.drop_table("gov_audit_log")
    op.drop_table("gov_audit_head")
