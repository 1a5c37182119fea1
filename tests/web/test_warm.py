"""Warm-up order: every cohort's coarse pages before any cohort's practice pages."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

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


def test_fine_pages_yield_the_core_and_coarse_pages_do_not(monkeypatch):
    """With warm_fine_duty 0.25 each PCN or practice build is followed by a pause of three times its length;
    London, ICS and borough pages are built back to back."""
    from carecommons.web import warm
    from carecommons.web.routes import dashboards as dashboard_routes

    cohort = _cohort("all", [("P1", "N1", "Ealing", "NWL"), ("P2", "N2", "Barnet", "NCL")])
    built: list[tuple[OrgLevel, str]] = []
    clock = [0.0]

    def fake_build(st, aggs, level, org_id, definition_id, draw=False):
        assert draw  # warmed pages carry their charts inline
        built.append((level, org_id))
        clock[0] += 2.0  # every page takes two seconds

    shared = SimpleNamespace(claim=lambda *_a: True, has_dashboard=lambda _k: False, trim_dashboards=lambda: None)
    st = SimpleNamespace(
        settings=SimpleNamespace(warm_fine_duty=0.25),
        shared=shared,
        aggregates=SimpleNamespace(get=lambda requester, factory: cohort),
        session_factory=None,
    )
    monkeypatch.setattr(dashboard_routes, "cached_dashboard", fake_build)
    monkeypatch.setattr(warm, "planning_requesters", lambda factory: [object()])
    monkeypatch.setattr(warm.time, "monotonic", lambda: clock[0])
    warmer = warm.Warmer(st)
    pauses: list[tuple[tuple[OrgLevel, str], float]] = []
    monkeypatch.setattr(warmer._stop, "wait", lambda seconds: pauses.append((built[-1], seconds)))
    assert warmer.warm_once("run-1") == len(organisations(cohort))
    assert all(level in warm.FINE_LEVELS for (level, _org), _s in pauses)
    assert [org for (_level, org), _s in pauses] == ["N1", "N2", "P1", "P2"]
    assert {seconds for _page, seconds in pauses} == {6.0}


def test_served_workers_warm_fine_pages_at_a_quarter_core_unless_told(monkeypatch):
    from carecommons.web.settings import ENV_WARM_DUTY, FINE_WARM_DUTY, Settings, settings_from_env

    monkeypatch.delenv(ENV_WARM_DUTY, raising=False)
    assert settings_from_env().warm_fine_duty == FINE_WARM_DUTY == 0.25
    assert Settings().warm_fine_duty == 1.0  # apps built in tests warm at full speed
    monkeypatch.setenv(ENV_WARM_DUTY, "1")
    assert settings_from_env().warm_fine_duty == 1.0
    for bad in ("0", "-0.5", "2", "fast"):
        monkeypatch.setenv(ENV_WARM_DUTY, bad)
        with pytest.raises(ValueError, match=ENV_WARM_DUTY):
            settings_from_env()


def test_a_pass_over_a_new_run_freezes_what_it_keeps(monkeypatch):
    """The serving loop moves what a pass built out of the garbage collector's reach; polls that build nothing
    leave the collector alone."""
    from carecommons.web import warm

    counted: list[str] = []
    st = SimpleNamespace(opt_out_counts=SimpleNamespace(everyone=lambda: counted.append("opt-outs")))
    warmer = warm.Warmer(st)
    passes: list[bool] = []
    frozen_after: list[int] = []
    monkeypatch.setattr(warmer, "_current_run", lambda: "run-1")
    monkeypatch.setattr(warmer, "warm_once", lambda run_id, count: passes.append(count) or 0)
    monkeypatch.setattr(warm.gc, "freeze", lambda: frozen_after.append(len(passes)))
    polls = iter([False, True])  # stop after the second poll
    monkeypatch.setattr(warmer._stop, "wait", lambda seconds: warmer._stop.set() if next(polls) else None)
    warmer._loop()
    assert passes == [True, False]  # the new run is counted once, the next poll only refreshes
    assert counted == ["opt-outs"]
    assert frozen_after == [1]  # frozen after the counting pass, not after the poll that built nothing
