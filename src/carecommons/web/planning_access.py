"""Which practices' GP data a planning or research requester may count: the gate before any population figure.

Why in one place: the dashboards' cohort counts and the information-governance lead's opt-out figures must
refuse the same requesters with the same words, and cover the same practices.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied
from carecommons.governance.agreements import Flow, covered_practices
from carecommons.governance.purposes import Purpose, Requester


def covered_for_planning(session: Session, requester: Requester) -> tuple[str, ...]:
    """The practices whose data an agreement in force shares with the requester's organisation for its purpose
    (planning or research). Raises AccessDenied for direct-care purposes and when no agreement covers any."""
    if requester.purpose not in (Purpose.PLANNING, Purpose.RESEARCH):
        raise AccessDenied(
            "purpose",
            "population dashboards are for planning, not direct care",
            "sign in again and choose the planning purpose, if your role allows it",
        )
    flow = Flow.GP_TO_PLANNING if requester.purpose is Purpose.PLANNING else Flow.GP_TO_RESEARCH
    covered = tuple(covered_practices(session, requester.org_id or "", requester.purpose, flow))
    if not covered:
        raise AccessDenied(
            "data-sharing agreement",
            f"no agreement in force shares GP data with your organisation for {requester.purpose.value}",
            "ask the information-governance lead to put a data-sharing agreement in place",
        )
    return covered
