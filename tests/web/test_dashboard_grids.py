"""The dashboards' per-cohort grids (counts and strata summed per practice) give the pages the frames gave."""

from __future__ import annotations

import dataclasses

import pytest

from carecommons.core.orgs import OrgLevel
from carecommons.web import dashboards
from carecommons.web.warm import organisations, planning_requesters


def _pages(aggs, cases: list[tuple[OrgLevel, str]], definitions: list[str]) -> list[str]:
    """Every page of the cases as its API form and its whole view model (tables, notes, chart data)."""
    out = []
    for level, org in cases:
        for d in definitions:
            page = dashboards.build(aggs, level, org, d)
            out.append(repr((dashboards.as_json(page), page)))
    return out


@pytest.mark.parametrize("user", ["analyst.london", "analyst.icb"])
def test_pages_from_the_grids_are_the_pages_from_the_frames(shared_app, monkeypatch, user):
    st = shared_app.state.cc
    requester = next(r for r in planning_requesters(st.session_factory) if r.user_id == user)
    aggs = st.aggregates.get(requester, st.session_factory)
    by_level: dict[OrgLevel, list[str]] = {}
    for level, org in organisations(aggs):
        by_level.setdefault(level, []).append(org)
    cases = [(level, org) for level, orgs in by_level.items() for org in orgs[:3]]
    definitions = ["DM020", "AF_REG", dashboards.DEFAULT_DEFINITION]
    primed = dataclasses.replace(aggs, memo={})
    dashboards.prime(primed)
    assert "count_grid" in primed.memo and any(k.startswith("strata_grid") for k in primed.memo)
    from_grids = _pages(primed, cases, definitions)
    monkeypatch.setattr(dashboards, "_practice_rows", lambda aggs: None)  # as when practice ids repeat
    from_frames = _pages(dataclasses.replace(aggs, memo={}), cases, definitions)
    assert from_grids == from_frames and len(from_grids) == len(cases) * len(definitions)
