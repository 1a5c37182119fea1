"""Break-glass alerts for information-governance review.

Breaking the glass is allowed so care is never blocked in an emergency; what makes it safe is that every
use is seen by someone accountable. Alerts stay open until an IG lead (or Caldicott guardian) reviews them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied, NotFound
from carecommons.governance import audit
from carecommons.governance.roles import Role
from carecommons.governance.users import get_user
from carecommons.store.models.governance import BreakGlassAlert, utcnow


def open_alerts(session: Session) -> list[BreakGlassAlert]:
    """Alerts nobody has reviewed yet, oldest first."""
    return list(
        session.scalars(
            select(BreakGlassAlert).where(BreakGlassAlert.reviewed_at.is_(None)).order_by(BreakGlassAlert.id)
        )
    )


def review_alert(session: Session, alert_id: int, reviewer: str) -> None:
    """Mark an alert reviewed by an IG lead (audited; committed)."""
    if get_user(session, reviewer).role != Role.IG_LEAD.value:
        raise AccessDenied("reviewer", f"{reviewer!r} is not an information-governance lead", "ask the IG lead")
    alert = session.get(BreakGlassAlert, alert_id)
    if alert is None:
        raise NotFound("alert_id", f"alert {alert_id} does not exist", "list open alerts first")
    alert.reviewed_by, alert.reviewed_at = reviewer, utcnow()
    patients = [alert.patient_id] if alert.patient_id is not None else None
    audit.record_change(session, reviewer, "break_glass_reviewed", patients, f"alert {alert_id}")
