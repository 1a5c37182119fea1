"""The public transparency page: what data is used, by whom and why, in plain English. No sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carecommons.web import oversight
from carecommons.web.deps import state
from carecommons.web.roles import PURPOSE_LABELS
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV: list = []


def transparency_figures(request: Request) -> dict:
    """Agreements in force and record accesses by purpose (published), from the operational database."""
    with state(request).session_factory() as session:
        agreements = [a for a in oversight.agreements_list(session) if a.in_force]
        accesses = oversight.accesses_by_purpose(session)
    return {"agreements": agreements, "accesses": accesses}


@router.get("/transparency")
def transparency(request: Request) -> Response:
    return render(
        request, "public/transparency.html", {**transparency_figures(request), "purpose_labels": PURPOSE_LABELS}
    )


@router.get("/accessibility")
def accessibility(request: Request) -> Response:
    return render(request, "public/accessibility.html", {})
