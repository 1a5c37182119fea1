"""Read models for the governance pages: agreements, audit search, opt-out figures, transparency figures.

Queries the governance tables through their SQLAlchemy models (read-only); every change goes through
governance's own functions. Figures about people (opt-outs, accesses) are published before display.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput
from carecommons.governance.optouts import platform_opted_out_ids
from carecommons.store.models.governance import Agreement, AuditEntry, NdopOptOut, Organisation
from carecommons.web.disclosure import publish, publish_parts
from carecommons.web.opt_out_counts import OptOutCounts

AUDIT_PAGE_SIZE = 200


@dataclass(frozen=True)
class AgreementRow:
    agreement_id: int
    name: str
    from_org: str
    to_org: str
    permissions: list[tuple[str, str]]
    valid_from: dt.date
    valid_to: dt.date | None
    in_force: bool


def agreements_list(session: Session, today: dt.date | None = None) -> list[AgreementRow]:
    today = today or dt.date.today()
    names = dict(session.execute(select(Organisation.org_id, Organisation.name)).all())
    rows = []
    for a in session.scalars(select(Agreement).order_by(Agreement.agreement_id)).unique():
        rows.append(
            AgreementRow(
                a.agreement_id,
                a.name,
                names.get(a.from_org_id, a.from_org_id),
                names.get(a.to_org_id, a.to_org_id),
                sorted((p.purpose, p.flow) for p in a.permissions),
                a.valid_from,
                a.valid_to,
                a.valid_from <= today and (a.valid_to is None or a.valid_to >= today),
            )
        )
    return rows


def organisations(session: Session) -> list[tuple[str, str, str]]:
    """(org_id, name, type) for the agreement form, coarse levels first."""
    order = {"london": 0, "icb": 1, "borough": 2, "local_authority": 3, "pcn": 4, "practice": 5, "trust": 6}
    rows = session.execute(select(Organisation.org_id, Organisation.name, Organisation.org_type)).all()
    return sorted(((r[0], r[1], r[2]) for r in rows), key=lambda r: (order.get(r[2], 9), r[1]))


@dataclass(frozen=True)
class AuditQuery:
    user_id: str = ""
    action: str = ""
    purpose: str = ""
    patient_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def parse_audit_query(
    user_id: str, action: str, purpose: str, patient_id: str, date_from: str, date_to: str
) -> AuditQuery:
    """Validate the search form; errors name the field (never echo its value)."""

    def date_of(name: str, value: str) -> dt.date | None:
        if not value.strip():
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(name, "is not a date", "use the form YYYY-MM-DD, e.g. 2026-11-01") from None

    pid = None
    if patient_id.strip():
        if not patient_id.strip().isdigit():
            raise InvalidInput("patient id", "must be digits only", "enter the platform patient id")
        pid = int(patient_id.strip())
    return AuditQuery(
        user_id.strip(), action.strip(), purpose.strip(), pid, date_of("from", date_from), date_of("to", date_to)
    )


def search_audit(session: Session, q: AuditQuery, limit: int = AUDIT_PAGE_SIZE) -> list[AuditEntry]:
    """Newest first, filtered; used by the IG lead to review who looked at what and why."""
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if q.user_id:
        stmt = stmt.where(AuditEntry.user_id == q.user_id)
    if q.action:
        stmt = stmt.where(AuditEntry.action.like(f"{q.action}%"))
    if q.purpose:
        stmt = stmt.where(AuditEntry.purpose == q.purpose)
    if q.patient_id is not None:
        stmt = stmt.where(AuditEntry.patient_id == q.patient_id)
    if q.date_from:
        stmt = stmt.where(AuditEntry.at >= dt.datetime.combine(q.date_from, dt.time.min))
    if q.date_to:
        stmt = stmt.where(AuditEntry.at < dt.datetime.combine(q.date_to + dt.timedelta(days=1), dt.time.min))
    return list(session.scalars(stmt))


def opt_out_figures(counts: OptOutCounts, session: Session) -> dict:
    """Type 1 opt-outs by ICS and borough (from the record), plus platform and National Data Opt-out totals."""
    oo = counts.opt_outs.merge(counts.practices[["practice_id", "borough", "icb"]], on="practice_id")
    out: dict = {}
    for key in ("icb", "borough"):
        g = oo.groupby(key, as_index=False)[["opted_out", "registered"]].sum()
        parts, total = publish_parts(g, key, ["opted_out", "registered"])
        out[key] = [
            {
                "name": r[key],
                "opted_out": r["opted_out"],
                "registered": r["registered"],
                "rate": _pct(r["opted_out"], r["registered"]),
            }
            for _, r in parts.iterrows()
        ]
        out["total"] = {
            "opted_out": total["opted_out"],
            "registered": total["registered"],
            "rate": _pct(total["opted_out"], total["registered"]),
        }
    ndop = session.scalar(select(func.count()).select_from(NdopOptOut)) or 0
    platform = len(platform_opted_out_ids(session))
    national = publish(pd.DataFrame({"kind": ["ndop", "platform"], "n": [ndop, platform]}), ["n"])
    out["ndop"], out["platform"] = _n(national["n"].iloc[0]), _n(national["n"].iloc[1])
    return out


def accesses_by_purpose(session: Session, days: int = 30) -> list[dict]:
    """How many record accesses (audit entries naming a patient) per purpose in the last `days` days, published."""
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
    rows = session.execute(
        select(AuditEntry.purpose, func.count())
        .where(AuditEntry.at >= since, AuditEntry.patient_id.is_not(None))
        .group_by(AuditEntry.purpose)
    ).all()
    purposes = ["direct_care", "planning", "research"]
    counts = dict(rows)
    df = pd.DataFrame({"purpose": purposes, "n": [int(counts.get(p, 0)) for p in purposes]})
    df = publish(df, ["n"])
    return [{"purpose": p, "n": _n(n)} for p, n in zip(df["purpose"], df["n"], strict=True)]


def _pct(num, den) -> float | None:
    if pd.isna(num) or pd.isna(den) or not den:
        return None
    return 100.0 * float(num) / float(den)


def _n(value) -> int | None:
    """A published count as a plain int, or None when suppressed (templates test `is none`)."""
    return None if pd.isna(value) else int(value)
