"""Roles and what each may do: the first gate of the access policy.

A role alone never grants access to a patient; it only says which purposes a user may act under.
The second gate (legitimate relationship, agreement, opt-outs) is in governance.cohort.
"""

from __future__ import annotations

from enum import StrEnum

from carecommons.governance.purposes import Purpose


class Role(StrEnum):
    GP = "gp"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    PRACTICE_MANAGER = "practice_manager"
    MDT_MEMBER = "mdt_member"  # profession says which: district_nurse, social_worker, care_coordinator
    ANALYST = "analyst"  # level is the organisation's: PCN, borough, ICS or London
    CLINICAL_LEAD = "clinical_lead"
    IG_LEAD = "ig_lead"
    PATIENT = "patient"
    CARER = "carer"  # proxy for patients who consented
    OPERATOR = "operator"  # runs the platform; no patient access


class Profession(StrEnum):
    DISTRICT_NURSE = "district_nurse"
    SOCIAL_WORKER = "social_worker"
    CARE_COORDINATOR = "care_coordinator"


#: Purposes each role may act under. Patients and carers use DIRECT_CARE to read their own (proxied) record.
ROLE_PURPOSES: dict[Role, frozenset[Purpose]] = {
    Role.GP: frozenset({Purpose.DIRECT_CARE}),
    Role.NURSE: frozenset({Purpose.DIRECT_CARE}),
    Role.PHARMACIST: frozenset({Purpose.DIRECT_CARE}),
    Role.PRACTICE_MANAGER: frozenset({Purpose.DIRECT_CARE}),
    Role.MDT_MEMBER: frozenset({Purpose.DIRECT_CARE}),
    Role.ANALYST: frozenset({Purpose.PLANNING, Purpose.RESEARCH}),
    Role.CLINICAL_LEAD: frozenset({Purpose.PLANNING, Purpose.RESEARCH}),
    Role.IG_LEAD: frozenset({Purpose.PLANNING}),
    Role.PATIENT: frozenset({Purpose.DIRECT_CARE}),
    Role.CARER: frozenset({Purpose.DIRECT_CARE}),
    Role.OPERATOR: frozenset(),
}

#: Roles that may break the glass: clinicians who may need a record in an emergency.
BREAK_GLASS_ROLES: frozenset[Role] = frozenset({Role.GP, Role.NURSE, Role.PHARMACIST, Role.MDT_MEMBER})

#: Roles whose direct-care relationship is registration at their practice.
PRACTICE_ROLES: frozenset[Role] = frozenset({Role.GP, Role.NURSE, Role.PHARMACIST, Role.PRACTICE_MANAGER})


def parse_role(value: Role | str) -> Role:
    """Turn a stored or requested role string into a Role, with an actionable error for unknown ones."""
    from carecommons.core.errors import InvalidInput

    try:
        return Role(value)
    except ValueError as err:
        raise InvalidInput(
            "role", f"{value!r} is not a known role", f"use one of {', '.join(r.value for r in Role)}"
        ) from err
