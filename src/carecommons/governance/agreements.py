"""Data-sharing agreements: which purposes and data flows may pass from one organisation to another.

An agreement from an organisation covers the organisations under it (an ICB-wide agreement covers its
practices); an agreement to an organisation covers the organisations under it too (a borough's analysts
work under an ICB agreement). A flow with no valid agreement is refused with AccessDenied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit
from carecommons.governance.orgs import ancestors, get_org, practices_under
from carecommons.governance.purposes import Purpose
from carecommons.store.models.governance import Agreement, AgreementPermission


class Flow(StrEnum):
    GP_TO_DIRECT_CARE = "gp->direct_care"
    GP_TO_MDT = "gp->mdt"
    GP_TO_PLANNING = "gp->planning"
    GP_TO_RESEARCH = "gp->research"
    SOCIAL_CARE_TO_DIRECT_CARE = "social_care->direct_care"
    HOSPITAL_TO_DIRECT_CARE = "hospital->direct_care"


def _flow(value: Flow | str) -> Flow:
    try:
        return Flow(value)
    except ValueError as err:
        raise InvalidInput("flow", f"{value!r} is not a known data flow", f"use one of {', '.join(Flow)}") from err


def add_agreement(
    session: Session,
    name: str,
    from_org: str,
    to_org: str,
    purposes: Iterable[Purpose],
    flows: Iterable[Flow | str],
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    actor: str = "system",
) -> Agreement:
    """Record an agreement allowing every (purpose, flow) pair listed (committed)."""
    get_org(session, from_org)
    get_org(session, to_org)
    if valid_to is not None and valid_to < valid_from:
        raise InvalidInput("valid_to", "is before valid_from", "give an end date after the start date")
    pairs = sorted({(Purpose(p).value, _flow(f).value) for p in purposes for f in flows})
    if not pairs:
        raise InvalidInput("purposes/flows", "an agreement must allow at least one purpose and flow", "list them")
    agreement = Agreement(name=name, from_org_id=from_org, to_org_id=to_org, valid_from=valid_from, valid_to=valid_to)
    agreement.permissions = [AgreementPermission(purpose=p, flow=f) for p, f in pairs]
    session.add(agreement)
    session.flush()
    audit.record_change(
        session, actor, "agreement_added", None, f"agreement {agreement.agreement_id}: {from_org} -> {to_org}"
    )
    return agreement


def _valid(session: Session, to_org: str, purpose: Purpose, flow: Flow, on: dt.date) -> list[Agreement]:
    """Agreements in force on `on` to `to_org` (or an organisation above it) allowing (purpose, flow)."""
    to_orgs = ancestors(session, to_org)
    if not to_orgs:
        return []
    stmt = (
        select(Agreement)
        .join(AgreementPermission)
        .where(
            Agreement.to_org_id.in_(to_orgs),
            AgreementPermission.purpose == purpose.value,
            AgreementPermission.flow == flow.value,
            Agreement.valid_from <= on,
            (Agreement.valid_to.is_(None)) | (Agreement.valid_to >= on),
        )
        .order_by(Agreement.agreement_id)
    )
    return list(session.scalars(stmt).unique())


def require_flow(
    session: Session, from_org: str, to_org: str, purpose: Purpose, flow: Flow | str, on: dt.date | None = None
) -> Agreement:
    """The agreement allowing this flow, or AccessDenied naming what is missing."""
    flow_, purpose_ = _flow(flow), Purpose(purpose)
    from_orgs = set(ancestors(session, from_org))
    for agreement in _valid(session, to_org, purpose_, flow_, on or dt.date.today()):
        if agreement.from_org_id in from_orgs:
            return agreement
    raise AccessDenied(
        "data-sharing agreement",
        f"no agreement in force lets {flow_.value} data for {purpose_.value} pass from {from_org} to {to_org}",
        "ask the information-governance lead to put a data-sharing agreement in place",
    )


def covered_practices(
    session: Session, to_org: str, purpose: Purpose, flow: Flow | str, on: dt.date | None = None
) -> list[str]:
    """Practices whose data may flow to `to_org` for this purpose and flow on that date."""
    out: set[str] = set()
    for agreement in _valid(session, to_org, Purpose(purpose), _flow(flow), on or dt.date.today()):
        out.update(practices_under(session, agreement.from_org_id))
    return sorted(out)
