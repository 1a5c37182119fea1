"""A page nobody has viewed is built once in a process, however many requests ask for it at the same time."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from carecommons.core.orgs import OrgLevel
from carecommons.web import dashboards
from carecommons.web.routes.dashboards import cached_dashboard


def test_concurrent_first_views_build_the_page_once(monkeypatch):
    builds: list[tuple] = []

    def slow_build(aggs, level, org_id, definition_id):
        builds.append((level, org_id, definition_id))
        time.sleep(0.2)
        return f"page {org_id} {definition_id} #{len(builds)}"

    monkeypatch.setattr(dashboards, "build", slow_build)
    st = SimpleNamespace(dashboard_cache={}, shared=None)
    aggs = SimpleNamespace(cohort="cohort-1")
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(cached_dashboard(st, aggs, OrgLevel.LONDON, "LONDON", "DM_REG")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == [(OrgLevel.LONDON, "LONDON", "DM_REG")]
    assert got == ["page LONDON DM_REG #1"] * 8
    # Another page, or another cohort, is its own build.
    cached_dashboard(st, aggs, OrgLevel.LONDON, "LONDON", "HYP_REG")
    cached_dashboard(st, SimpleNamespace(cohort="cohort-2"), OrgLevel.LONDON, "LONDON", "DM_REG")
    assert len(builds) == 3
