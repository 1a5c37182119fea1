"""Research projects: the research purpose opens only under an approved, unexpired project."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied, InvalidInput, NotFound
from carecommons.governance import audit
from carecommons.governance.orgs import ancestors, get_org
from carecommons.governance.purposes import Requester
from carecommons.store.models.governance import ResearchProject, utcnow


def create_project(
    session: Session, project_id: str, title: str, org_id: str, actor: str = "system"
) -> ResearchProject:
    """Register a project awaiting approval (committed)."""
    get_org(session, org_id)
    if session.get(ResearchProject, project_id) is not None:
        raise InvalidInput("project_id", f"{project_id!r} already exists", "choose another project id")
    project = ResearchProject(project_id=project_id, title=title, org_id=org_id, status="pending")
    session.add(project)
    audit.record_change(session, actor, "project_registered", None, f"project {project_id}")
    return project


def _get(session: Session, project_id: str) -> ResearchProject:
    project = session.get(ResearchProject, project_id)
    if project is None:
        raise NotFound("project_id", f"{project_id!r} is not a registered research project", "register it first")
    return project


def approve_project(session: Session, project_id: str, approved_by: str, expires_on: dt.date | None = None) -> None:
    project = _get(session, project_id)
    project.status, project.approved_by, project.approved_at = "approved", approved_by, utcnow()
    project.expires_on = expires_on
    audit.record_change(session, approved_by, "project_approved", None, f"project {project_id}")


def close_project(session: Session, project_id: str, actor: str = "system") -> None:
    _get(session, project_id).status = "closed"
    audit.record_change(session, actor, "project_closed", None, f"project {project_id}")


def require_approved_project(session: Session, requester: Requester, today: dt.date) -> ResearchProject:
    """The requester's project if approved, unexpired and held by their organisation (or one above it)."""
    if not requester.project_id:
        raise AccessDenied("project_id", "research needs an approved project and none was given", "name the project")
    project = session.get(ResearchProject, requester.project_id)
    if project is None:
        raise AccessDenied("project_id", f"{requester.project_id!r} is not a registered project", "register it")
    if project.status != "approved":
        raise AccessDenied("project_id", f"project {project.project_id!r} is {project.status}", "get it approved")
    if project.expires_on is not None and project.expires_on < today:
        raise AccessDenied("project_id", f"project {project.project_id!r} expired", "renew the approval")
    if requester.org_id is None or project.org_id not in ancestors(session, requester.org_id):
        raise AccessDenied(
            "project_id",
            f"project {project.project_id!r} is not held by organisation {requester.org_id!r}",
            "work under a project of your organisation",
        )
    return project
