"""The consultation reference: search about 140 common symptoms for conditions to consider and red flags."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from carecommons.core.errors import NotFound
from carecommons.reference.symptoms import SymptomGuidance, load_guidance
from carecommons.web.auth import Identity
from carecommons.web.deps import current_identity
from carecommons.web.roles import CLINICAL_ROLES, NavItem
from carecommons.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("Symptom reference", "/symptoms", CLINICAL_ROLES)]


def search(query: str, category: str | None) -> list[SymptomGuidance]:
    """Matches ranked: symptom name first, then lay synonyms, then matches in the clinical content."""
    guidance = load_guidance()
    found = guidance.search(query, category or None)
    q = query.strip().lower()
    if not q:
        return found

    def rank(e: SymptomGuidance) -> tuple[int, str]:
        name = e.symptom.lower()
        if name == q or name.startswith(q):
            return (0, name)
        if q in name:
            return (1, name)
        if any(q in s.lower() for s in e.lay_synonyms):
            return (2, name)
        return (3, name)

    return sorted(found, key=rank)


@router.get("/symptoms")
def symptoms(
    request: Request,
    q: str = Query("", max_length=100),
    category: str = Query("", max_length=60),
    identity: Identity = Depends(current_identity),
) -> Response:
    guidance = load_guidance()
    results = search(q, category)
    return render(
        request,
        "symptoms/index.html",
        {"guidance": guidance, "results": results, "q": q, "category": category, "total": len(guidance.entries)},
    )


@router.get("/symptoms/{slug}")
def symptom(request: Request, slug: str, identity: Identity = Depends(current_identity)) -> Response:
    guidance = load_guidance()
    entry = guidance.get(slug)
    if entry is None:
        raise NotFound("symptom", "no symptom with that address in the reference", "search the list of symptoms")
    return render(request, "symptoms/detail.html", {"guidance": guidance, "e": entry})
