"""Warm-up order: every cohort's coarse pages before any cohort's practice pages."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from carecommons.core.orgs import OrgLevel
from carecommons.web.warm import _coarse_first, organisations


def _cohort(name: str, practices: list[tuple[str, str, str, str]]):
    frame = pd.DataFrame(practices, columns=["practice_id", "pcn_id", "borough", "icb"])
    return SimpleNamespace(cohort=name, practices=frame)


def test_coarse_pages_of_every_cohort_come_before_any_practice_page():
    london = _cohort("all", [("P1", "N1", "Ealing", "NWL"), ("P2", "N2", "Barnet", "NCL")])
    borough = _cohort("ealing", [("P1", "N1", "Ealing", "NWL")])
    order = _coarse_first([london, borough])
    levels = [level for level, _org, _aggs in order]
    depth = [OrgLevel.LONDON, OrgLevel.ICB, OrgLevel.BOROUGH, OrgLevel.PCN, OrgLevel.PRACTICE]
    assert levels == sorted(levels, key=depth.index)
    # Nothing lost or repeated: exactly each cohort's own organisations.
    for aggs in (london, borough):
        assert [(lv, org) for lv, org, a in order if a is aggs] == organisations(aggs)
    # Within a level, cohorts keep the order they were counted in.
    assert [a.cohort for lv, _org, a in order if lv is OrgLevel.LONDON] == ["all", "ealing"]
    assert _coarse_first([]) == []
