"""The dashboards over the real pipeline (synth -> ingest) at small scale, not only over the web demo store.

Slow (synth + ingest of 1,000 patients takes ~15-60 s on the shared machine), so the other web tests keep the
fast demo store; this module proves the pages work on what ingest actually writes.
"""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from carecommons.governance.seed import DEMO_PASSWORD, seed_demo
from carecommons.ingest import ingest
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.synth import generate
from carecommons.web.app import create_app
from carecommons.web.settings import Settings
from tests.web.a11y import problems
from tests.web.conftest import login

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    generate(out_dir=root / "sources", patients=1000, seed=11, format="mixed", faults=frozenset(), progress=False)
    summary = ingest(root / "store.duckdb", [root / "sources"], progress=False)
    assert summary.ok
    url = f"sqlite:///{root / 'op.sqlite'}"
    upgrade(url)
    con = duckdb.connect(str(root / "store.duckdb"), read_only=True)
    with make_sessionmaker(make_engine(url))() as session:
        seed_demo(session, con)
    con.close()
    app = create_app(Settings(store_path=root / "store.duckdb", operational_url=url, secret_key="r" * 32))
    with TestClient(app) as c:
        assert login(c, "analyst.london", DEMO_PASSWORD, "planning").status_code == 303
        yield c, root / "store.duckdb"


def test_drill_down_over_ingested_data(real_client):
    c, store = real_client
    con = duckdb.connect(str(store), read_only=True)
    icbs = {
        r[0] for r in con.execute("SELECT DISTINCT icb FROM practices JOIN patients USING (practice_id)").fetchall()
    }
    con.close()
    london = c.get("/api/v1/dashboards/london/LONDON").json()["data"]
    assert {ch["id"] for ch in london["children"]} <= icbs and london["children"]
    path = "/api/v1/dashboards/london/LONDON"
    for level in ("ics", "borough", "pcn", "practice"):
        child = c.get(path).json()["data"]["children"][0]
        path = f"/api/v1/dashboards/{level}/{child['id']}"
        data = c.get(path).json()["data"]
        assert data["org"]["level"] == level
        for row in data["prevalence"]:
            for v in (row["numerator"], row["denominator"]):
                assert v is None or (v % 5 == 0 and not 1 <= v <= 7)
        page = c.get(path.replace("/api/v1", ""))
        assert page.status_code == 200 and problems(page.text) == []


def test_london_hypertension_close_to_qof_prevalence(real_client):
    """Synth draws registers from QOF 2019/20 borough prevalence (~11-13% hypertension in London boroughs),
    so a crude London figure far outside 5-20% means the web read the store wrongly."""
    c, _ = real_client
    hyp = next(
        p for p in c.get("/api/v1/dashboards/london/LONDON").json()["data"]["prevalence"] if p["register"] == "hyp"
    )
    assert 5 <= hyp["rate"] <= 20
