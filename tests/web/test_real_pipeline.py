"""The dashboards over the real pipeline: `carecommons demo --patients 1000 --no-serve` (synth -> ingest ->
link -> engine run over 24 month ends -> seeded accounts) into a temporary CARECOMMONS_HOME, once per module.

Slow (about a minute on the shared machine), so the other web tests use the fast web demo store (which also
runs the engine); this module proves the pages work on what the platform's own pipeline writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import duckdb
import pytest
from fastapi.testclient import TestClient

from carecommons.governance.seed import DEMO_PASSWORD
from carecommons.web.app import create_app
from carecommons.web.settings import Settings
from tests.web.a11y import problems
from tests.web.conftest import login

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_client(tmp_path_factory):
    home = tmp_path_factory.mktemp("real")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from carecommons.cli.main import app; app()",
            "demo",
            "--patients",
            "1000",
            "--no-serve",
        ],
        env={**os.environ, "CARECOMMONS_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    store = home / "store.duckdb"
    url = f"sqlite:///{home / 'operational.sqlite'}"
    app = create_app(Settings(store_path=store, operational_url=url, secret_key="r" * 32))
    with TestClient(app) as c:
        assert login(c, "analyst.london", DEMO_PASSWORD, "planning").status_code == 303
        yield c, store


def test_drill_down_over_the_demo_pipeline(real_client):
    c, store = real_client
    con = duckdb.connect(str(store), read_only=True)
    icbs = {
        r[0] for r in con.execute("SELECT DISTINCT icb FROM practices JOIN patients USING (practice_id)").fetchall()
    }
    n_dates = con.execute("SELECT count(DISTINCT index_date) FROM results_population").fetchone()[0]
    con.close()
    london = c.get("/api/v1/dashboards/london/LONDON").json()["data"]
    assert {ch["id"] for ch in london["children"]} <= icbs and london["children"]
    assert len(london["index_dates"]) == n_dates == 24
    path = "/api/v1/dashboards/london/LONDON"
    for level in ("ics", "borough", "pcn", "practice"):
        child = c.get(path).json()["data"]["children"][0]
        path = f"/api/v1/dashboards/{level}/{child['id']}"
        data = c.get(path).json()["data"]
        assert data["org"]["level"] == level
        for row in data["prevalence"] + data["indicators"]:
            for v in (row["numerator"], row["denominator"]):
                assert v is None or (v % 5 == 0 and not 1 <= v <= 7)
        page = c.get(path.replace("/api/v1", ""))
        assert page.status_code == 200 and problems(page.text) == []


def test_london_hypertension_close_to_qof_prevalence(real_client):
    """Synth draws registers from QOF 2019/20 borough prevalence (~11-13% hypertension in London boroughs),
    so a crude London figure far outside 5-20% means the page read the results wrongly."""
    c, _ = real_client
    data = c.get("/api/v1/dashboards/london/LONDON").json()["data"]
    hyp = next(p for p in data["prevalence"] if p["definition"] == "HYP_REG")
    assert 5 <= hyp["rate"] <= 20


def test_trend_chart_over_the_runs_index_dates(real_client):
    c, _ = real_client
    page = c.get("/dashboards/london?definition=HYP_REG").text
    assert "24 index dates" in page  # the chart's text alternative (image alt) and its table
    src = re.search(r'<img class="cc-chart" src="([^"]+/charts/spc\.svg\?[^"]+)"', page).group(1)
    chart = c.get(src.replace("&amp;", "&")).text
    assert 'aria-labelledby="spc-title spc-desc"' in chart and "24 index dates" in chart
