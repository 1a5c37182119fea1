"""Organisations in the operational DB, mirroring the record store's practice hierarchy.

Agreements, users and research projects point at these rows; an agreement with an organisation covers
the organisations under it, so the tree (parent_id) is what access decisions walk.
"""

from __future__ import annotations

from enum import StrEnum

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.core.errors import NotFound
from carecommons.core.orgs import ICBS
from carecommons.governance import audit
from carecommons.store.models.governance import Organisation

LONDON_ORG_ID = "london"


class OrgType(StrEnum):
    PRACTICE = "practice"
    PCN = "pcn"
    BOROUGH = "borough"
    ICB = "icb"
    LONDON = "london"
    LOCAL_AUTHORITY = "local_authority"
    TRUST = "trust"


def org_id(level: OrgType | str, key: str = "") -> str:
    """The organisation id for a hierarchy key: ODS/PCN codes as they are, prefixes where names could clash."""
    level = OrgType(level)
    if level in (OrgType.PRACTICE, OrgType.PCN, OrgType.TRUST):
        return key
    if level is OrgType.LONDON:
        return LONDON_ORG_ID
    prefix = {OrgType.BOROUGH: "borough", OrgType.ICB: "icb", OrgType.LOCAL_AUTHORITY: "la"}[level]
    return f"{prefix}:{key}"


def upsert(session: Session, org: str, name: str, org_type: OrgType | str, parent_id: str | None) -> Organisation:
    """Create or update one organisation (idempotent, so syncing twice changes nothing)."""
    row = session.get(Organisation, org)
    if row is None:
        row = Organisation(org_id=org, name=name, org_type=str(OrgType(org_type)), parent_id=parent_id)
        session.add(row)
    else:
        row.name, row.org_type, row.parent_id = name, str(OrgType(org_type)), parent_id
    return row


def sync_from_store(session: Session, con: duckdb.DuckDBPyConnection) -> int:
    """Mirror the store's practices table (London > ICB > borough > PCN > practice, plus one local
    authority per borough, and the trusts present in hospital_records) into the operational DB; returns the
    number of organisations written. Commits."""
    rows = con.execute(
        "SELECT practice_id, name, pcn_id, pcn_name, borough, icb FROM practices ORDER BY practice_id"
    ).fetchall()
    written: dict[str, tuple[str, OrgType, str | None]] = {LONDON_ORG_ID: ("London", OrgType.LONDON, None)}
    for practice_id, name, pcn_id, pcn_name, borough, icb in rows:
        icb_id = org_id(OrgType.ICB, icb)
        borough_id = org_id(OrgType.BOROUGH, borough)
        written[icb_id] = (ICBS.get(icb, icb), OrgType.ICB, LONDON_ORG_ID)
        written[borough_id] = (borough, OrgType.BOROUGH, icb_id)
        written[org_id(OrgType.LOCAL_AUTHORITY, borough)] = (f"{borough} Council", OrgType.LOCAL_AUTHORITY, borough_id)
        written[pcn_id] = (pcn_name or pcn_id, OrgType.PCN, borough_id)
        written[practice_id] = (name or practice_id, OrgType.PRACTICE, pcn_id)
    # Acute trusts that send discharges: recipients and senders of hospital->direct_care flows.
    for (trust,) in con.execute("SELECT DISTINCT trust_code FROM hospital_records ORDER BY 1").fetchall():
        written.setdefault(trust, (f"Trust {trust}", OrgType.TRUST, LONDON_ORG_ID))
    # Parents before children so the self-referencing foreign key holds at every flush.
    order = [
        OrgType.LONDON,
        OrgType.ICB,
        OrgType.TRUST,
        OrgType.BOROUGH,
        OrgType.LOCAL_AUTHORITY,
        OrgType.PCN,
        OrgType.PRACTICE,
    ]
    for level in order:
        for oid, (name, typ, parent) in written.items():
            if typ is level:
                upsert(session, oid, name, typ, parent)
        session.flush()
    audit.record_change(session, "org-sync", "organisations_synced", None, f"{len(written)} organisations")
    return len(written)


def get_org(session: Session, org: str) -> Organisation:
    row = session.get(Organisation, org)
    if row is None:
        raise NotFound("organisation", f"{org!r} is not a known organisation", "run organisation sync or check the id")
    return row


def ancestors(session: Session, org: str) -> list[str]:
    """The organisation itself first, then each parent up to London (empty if the org is unknown)."""
    out: list[str] = []
    current = session.get(Organisation, org)
    while current is not None and current.org_id not in out:
        out.append(current.org_id)
        current = session.get(Organisation, current.parent_id) if current.parent_id else None
    return out


def descendants(session: Session, org: str) -> list[str]:
    """The organisation itself and every organisation below it (breadth first)."""
    parents = {o.org_id: o.parent_id for o in session.scalars(select(Organisation))}
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    if org not in parents:
        return []
    out, frontier = [org], [org]
    while frontier:
        frontier = [c for p in frontier for c in sorted(children.get(p, []))]
        out.extend(frontier)
    return out


def practices_under(session: Session, org: str) -> list[str]:
    """Practice ids at or below an organisation: what an agreement from that organisation covers."""
    ids = set(descendants(session, org))
    if not ids:
        return []
    return sorted(
        session.scalars(
            select(Organisation.org_id).where(
                Organisation.org_type == OrgType.PRACTICE.value, Organisation.org_id.in_(ids)
            )
        )
    )
