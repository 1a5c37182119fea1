"""Data-sharing agreements: which purposes and data flows may pass from one organisation to another.

An agreement from an organisation covers the organisations under it (an ICB-wide agreement covers its
practices); an agreement to an organisation covers the organisations under it too (a borough's analysts
work under an ICB agreement). A flow with no valid agreement is refused with AccessDenied.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit
from carecommons.governance.orgs import OrgType, get_org
from carecommons.governance.purposes import Purpose
from carecommons.store.models.governance import Agreement, AgreementPermission, Organisation


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


#: The organisation tree is re-read at least this often even when its fingerprint has not changed (a re-parented
#: organisation with ids of the same lengths would not change the fingerprint).
ORG_TREE_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class _OrgTree:
    """The organisation hierarchy as plain maps, so walking it costs no database round trip per node."""

    fingerprint: tuple
    read_at: float
    parents: dict[str, str | None]
    children: dict[str, tuple[str, ...]]
    practices: frozenset[str]

    def ancestors(self, org: str) -> list[str]:
        """As governance.orgs.ancestors: the organisation itself, then each parent up to London."""
        out: list[str] = []
        current: str | None = org if org in self.parents else None
        while current is not None and current not in out:
            out.append(current)
            current = self.parents.get(current)
        return out

    def practices_under(self, org: str) -> list[str]:
        """As governance.orgs.practices_under: practice ids at or below the organisation."""
        if org not in self.parents:
            return []
        seen, frontier = {org}, [org]
        while frontier:
            frontier = [c for p in frontier for c in self.children.get(p, ()) if c not in seen]
            seen.update(frontier)
        return sorted(seen & self.practices)


_tree_lock = threading.Lock()
_trees: dict[str, _OrgTree] = {}  # per database URL: one process may serve several operational DBs (tests)


def _forget_org_trees(*_args: object) -> None:
    """Drop every cached tree: an organisation was written through the ORM in this process."""
    with _tree_lock:
        _trees.clear()


# Writes in this process (organisation sync, tests) invalidate at once; writes by other processes are caught by
# the fingerprint, or by the age limit for a re-parenting that keeps the fingerprint.
for _event in ("after_insert", "after_update", "after_delete"):
    event.listen(Organisation, _event, _forget_org_trees)


def _org_fingerprint(session: Session) -> tuple:
    """A cheap summary of gov_organisations that changes when organisations are added, removed or renamed
    into other ids (one aggregate query instead of reading every row)."""
    length = func.length
    row = session.execute(
        select(
            func.count(),
            func.count(Organisation.parent_id),
            func.min(Organisation.org_id),
            func.max(Organisation.org_id),
            func.sum(length(Organisation.org_id) * 7 + func.coalesce(length(Organisation.parent_id), 0) * 3),
            func.sum(length(Organisation.org_type)),
        )
    ).one()
    return tuple(row)


def _org_tree(session: Session) -> _OrgTree:
    """The process's copy of the organisation tree, re-read when its fingerprint changes or it is a minute old.

    Access decisions walk this tree on every planning view and record page; reading ~1,500 ORM rows each time
    cost ~20 ms of CPU per request at London scale. Agreements themselves are never cached (see _valid).
    """
    key = str(session.get_bind().url)
    fingerprint = _org_fingerprint(session)
    with _tree_lock:
        tree = _trees.get(key)
        if (
            tree is not None
            and tree.fingerprint == fingerprint
            and time.monotonic() - tree.read_at < ORG_TREE_MAX_AGE_SECONDS
        ):
            return tree
    rows = session.execute(select(Organisation.org_id, Organisation.parent_id, Organisation.org_type)).all()
    parents = {org: parent for org, parent, _ in rows}
    children: dict[str, list[str]] = {}
    for org, parent, _ in rows:
        if parent is not None:
            children.setdefault(parent, []).append(org)
    tree = _OrgTree(
        fingerprint=fingerprint,
        read_at=time.monotonic(),
        parents=parents,
        children={p: tuple(sorted(c)) for p, c in children.items()},
        practices=frozenset(org for org, _, typ in rows if typ == OrgType.PRACTICE.value),
    )
    with _tree_lock:
        _trees[key] = tree
    return tree


def _valid(
    session: Session, to_org: str, purpose: Purpose, flow: Flow, on: dt.date, tree: _OrgTree | None = None
) -> list[Agreement]:
    """Agreements in force on `on` to `to_org` (or an organisation above it) allowing (purpose, flow).

    Read from the database on every call, so a new, ended or withdrawn agreement takes effect at once."""
    to_orgs = (tree or _org_tree(session)).ancestors(to_org)
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
    tree = _org_tree(session)
    from_orgs = set(tree.ancestors(from_org))
    for agreement in _valid(session, to_org, purpose_, flow_, on or dt.date.today(), tree):
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
    tree = _org_tree(session)
    for agreement in _valid(session, to_org, Purpose(purpose), _flow(flow), on or dt.date.today(), tree):
        out.update(tree.practices_under(agreement.from_org_id))
    return sorted(out)
