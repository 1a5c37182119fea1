"""Roles known to the web app: which purposes each may act under and which pages its navigation shows.

Role values and the purposes each may use come from governance.roles (the access policy's first gate);
this module adds only what the web needs: labels and navigation. The purpose a user acts under is chosen at sign-in when
the role allows several; it becomes part of every Requester built for that session.
"""

from __future__ import annotations

from dataclasses import dataclass

from carecommons.governance.purposes import Purpose
from carecommons.governance.roles import ROLE_PURPOSES, Role

ROLE_LABELS: dict[str, str] = {
    Role.GP: "GP",
    Role.NURSE: "Practice nurse",
    Role.PHARMACIST: "Pharmacist",
    Role.PRACTICE_MANAGER: "Practice manager",
    Role.MDT_MEMBER: "MDT member",
    Role.ANALYST: "Analyst",
    Role.CLINICAL_LEAD: "Clinical lead",
    Role.IG_LEAD: "Information-governance lead",
    Role.OPERATOR: "Platform operator",
    Role.PATIENT: "Patient",
    Role.CARER: "Carer",
}

#: Order in which purposes are offered (first = default when a role has several).
_PURPOSE_ORDER = (Purpose.DIRECT_CARE, Purpose.PLANNING, Purpose.RESEARCH)

PURPOSE_LABELS: dict[Purpose, str] = {
    Purpose.DIRECT_CARE: "Direct care",
    Purpose.PLANNING: "Planning",
    Purpose.RESEARCH: "Research",
}

#: Roles that may see planning dashboards (governance decides which practices they cover).
DASHBOARD_ROLES = frozenset({Role.ANALYST, Role.CLINICAL_LEAD, Role.IG_LEAD})
#: Roles that oversee governance (agreements, audit, opt-out figures).
OVERSIGHT_ROLES = frozenset({Role.IG_LEAD})
#: Roles that consult the symptom reference.
CLINICAL_ROLES = frozenset({Role.GP, Role.NURSE, Role.PHARMACIST, Role.CLINICAL_LEAD, Role.MDT_MEMBER})


@dataclass(frozen=True)
class NavItem:
    """One link in the header navigation, shown to the listed roles (empty = every signed-in user)."""

    label: str
    href: str
    roles: frozenset[str] = frozenset()
    purposes: frozenset[Purpose] = frozenset()

    def visible_to(self, role: str, purpose: Purpose) -> bool:
        return (not self.roles or role in self.roles) and (not self.purposes or purpose in self.purposes)


def purposes_for(role: str) -> tuple[Purpose, ...]:
    """The purposes a role may choose (governance.roles decides); unknown roles get none."""
    try:
        allowed = ROLE_PURPOSES[Role(role)]
    except ValueError:
        return ()
    return tuple(p for p in _PURPOSE_ORDER if p in allowed)


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role.replace("_", " ").capitalize())
