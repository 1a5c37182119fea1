"""Governance tables: who may see what, under which agreement, and the tamper-evident audit log.

Patient ids here are the record store's BIGINT patient_id, so the governance filters can be joined to the
store without exposing NHS numbers (except the National Data Opt-out list, which arrives as NHS numbers).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    """Naive UTC, microsecond precision: stored identically on SQLite and PostgreSQL (the audit hash needs that)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Organisation(Base):
    """One node of the hierarchy: practice, PCN, borough, ICB, London, local authority or trust."""

    __tablename__ = "gov_organisations"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("gov_organisations.org_id"), index=True)


class User(Base):
    """A local account. user_id is the login name and what Requester.user_id carries."""

    __tablename__ = "gov_users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32), index=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("gov_organisations.org_id"), index=True)
    profession: Mapped[str | None] = mapped_column(String(32))
    patient_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # for patient accounts
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class CaseloadEntry(Base):
    """A patient on an MDT member's caseload: the MDT's legitimate relationship for direct care."""

    __tablename__ = "gov_caseload"
    __table_args__ = (UniqueConstraint("user_id", "patient_id", name="uq_gov_caseload_user_patient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("gov_users.user_id"), index=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, index=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CarerProxy(Base):
    """A carer acting for a patient, valid while the patient's consent stands (withdrawn_at NULL)."""

    __tablename__ = "gov_carer_proxies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(BigInteger, index=True)
    carer_user_id: Mapped[str] = mapped_column(ForeignKey("gov_users.user_id"), index=True)
    consent_given_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    consent_withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ResearchProject(Base):
    """A research project; only approved, unexpired projects open the research purpose."""

    __tablename__ = "gov_research_projects"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    org_id: Mapped[str] = mapped_column(ForeignKey("gov_organisations.org_id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, rejected, closed
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)


class Agreement(Base):
    """A data-sharing agreement from one organisation (and those under it) to another."""

    __tablename__ = "gov_agreements"

    agreement_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    from_org_id: Mapped[str] = mapped_column(ForeignKey("gov_organisations.org_id"), index=True)
    to_org_id: Mapped[str] = mapped_column(ForeignKey("gov_organisations.org_id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    permissions: Mapped[list[AgreementPermission]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", lazy="selectin"
    )


class AgreementPermission(Base):
    """One (purpose, data flow) an agreement allows."""

    __tablename__ = "gov_agreement_permissions"
    __table_args__ = (UniqueConstraint("agreement_id", "purpose", "flow", name="uq_gov_agreement_permission"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("gov_agreements.agreement_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    flow: Mapped[str] = mapped_column(String(64))

    agreement: Mapped[Agreement] = relationship(back_populates="permissions")


class NdopOptOut(Base):
    """A National Data Opt-out as the NDOP service supplies it (NHS number), or resolved to a patient id."""

    __tablename__ = "gov_ndop_opt_outs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nhs_number: Mapped[str | None] = mapped_column(String(10), index=True)
    patient_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    batch: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PatientChoice(Base):
    """A choice a patient made in the platform (append-only; the latest per patient and kind applies)."""

    __tablename__ = "gov_patient_choices"
    __table_args__ = (Index("ix_gov_patient_choices_patient_kind", "patient_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # type1, ndop
    opted_out: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class BreakGlassAlert(Base):
    """Raised whenever someone breaks the glass; IG leads review these."""

    __tablename__ = "gov_break_glass_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """One link of the hash chain: hash = SHA-256(canonical fields + prev_hash). Never updated or deleted."""

    __tablename__ = "gov_audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the chain's last entry; appenders lock it, so appends are serialised."""

    __tablename__ = "gov_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
