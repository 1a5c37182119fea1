"""Planning dashboards over the engine's results: drill-down, governance (purpose, opt-outs) and disclosure
control, each figure checked against independent SQL over results_patient / results_population."""

from __future__ import annotations

import html
import re
from xml.etree import ElementTree

import duckdb
import numpy as np
import pytest

from carecommons.governance.optouts import DEFAULT_OPT_OUT_CONFIG
from carecommons.stats.standardise import dsr

LINK_RE = re.compile(r'<a href="(/dashboards/[a-z]+/[^"?]+)\?definition=HYP_REG">')
DISSENT = sorted(DEFAULT_OPT_OUT_CONFIG.all_dissent_codes)


def _counts_published(values) -> None:
    for v in values:
        assert v is None or (v % 5 == 0 and not 1 <= v <= 7), v


def _cohort_sql() -> str:
    """The newest run's population at its latest index date, less patients with a Type 1 dissent code."""
    return """
        WITH run AS (SELECT snapshot_id, index_dates FROM results_runs ORDER BY finished_at DESC LIMIT 1),
        pop AS (
          SELECT p.* FROM results_population p, run
          WHERE p.snapshot_id = run.snapshot_id
            AND p.index_date = (SELECT max(CAST(d AS DATE)) FROM (SELECT unnest(from_json(run.index_dates, '["VARCHAR"]')) AS d))
            AND p.patient_id NOT IN (SELECT patient_id FROM events WHERE list_contains($dissent, code))
            AND ($practices IS NULL OR list_contains($practices, p.practice_id))
        )"""


def _truth(store, definition_id: str, practices: list[str] | None = None) -> dict[str, int]:
    """Independent counts: population, and the definition's den/num/exc among the cohort."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        row = con.execute(
            _cohort_sql()
            + """SELECT (SELECT count(*) FROM pop),
                       count(*) FILTER (WHERE r.den), count(*) FILTER (WHERE r.num), count(*) FILTER (WHERE r.exc)
                FROM results_patient r JOIN pop ON pop.patient_id = r.patient_id AND pop.index_date = r.index_date
                     AND pop.snapshot_id = r.snapshot_id
                WHERE r.definition_id = $def""",
            {"dissent": DISSENT, "def": definition_id, "practices": practices},
        ).fetchone()
    finally:
        con.close()
    return dict(zip(("population", "den", "num", "exc"), row, strict=True))


def _near(published, true: int) -> None:
    """A published count is the true count rounded to 5 (or suppressed when small)."""
    if published is None:
        assert true <= 7 or true > 0
    else:
        assert abs(published - true) <= 2.5, (published, true)


def test_london_dashboard_matches_results_after_disclosure_control(as_user, web_env):
    c = as_user("analyst.london", "planning")
    body = c.get("/api/v1/dashboards/london/LONDON?definition=DM_REG").json()
    assert body["ok"] is True
    data = body["data"]
    assert data["org"] == {"level": "london", "id": "LONDON", "name": "London"}
    assert data["definition"]["id"] == "DM_REG" and data["definition"]["version"]
    assert data["run_id"] == body["meta"]["run_id"] and data["snapshot_id"]
    for def_id in ("HYP_REG", "DM_REG", "AST_REG"):
        row = next(p for p in data["prevalence"] if p["definition"] == def_id)
        t = _truth(web_env.store, def_id)
        _near(row["numerator"], t["num"])
        _near(row["denominator"], t["population"])
        assert row["rate"] == pytest.approx(100 * row["numerator"] / row["denominator"], abs=1e-3)
        assert row["lo"] < row["rate"] < row["hi"]
    _counts_published([p["numerator"] for p in data["prevalence"]] + [p["denominator"] for p in data["prevalence"]])
    _counts_published([ch["numerator"] for ch in data["children"]] + [ch["denominator"] for ch in data["children"]])
    assert {ch["level"] for ch in data["children"]} == {"ics"}


def test_indicator_achievement_is_numerator_over_denominator_less_exclusions(as_user, web_env):
    c = as_user("analyst.london", "planning")
    data = c.get("/api/v1/dashboards/london/LONDON?definition=HYP008").json()["data"]
    assert data["definition"]["kind"] == "indicator" and data["definition"]["measure"] == "achievement"
    row = next(i for i in data["indicators"] if i["definition"] == "HYP008")
    t = _truth(web_env.store, "HYP008")
    assert t["exc"] > 0, "the demo store must exercise exclusions"
    _near(row["denominator"], t["den"] - t["exc"])
    _near(row["exclusions"], t["exc"])
    _near(row["numerator"], t["num"])


def test_opted_out_patients_do_not_contribute(as_user, web_env):
    """The store has Type 1 dissenters on the hypertension register: the page counts fewer than everyone."""
    con = duckdb.connect(str(web_env.store), read_only=True)
    everyone, opted_on_register = con.execute(
        _cohort_sql().replace("AND p.patient_id NOT IN", "AND p.patient_id NOT IN (SELECT -1) AND -1 NOT IN")
        + """SELECT count(*), count(*) FILTER (WHERE pop.patient_id IN
                    (SELECT patient_id FROM events WHERE list_contains($dissent, code)))
             FROM results_patient r JOIN pop ON pop.patient_id = r.patient_id AND pop.index_date = r.index_date
                  AND pop.snapshot_id = r.snapshot_id WHERE r.definition_id = 'HYP_REG'""",
        {"dissent": DISSENT, "practices": None},
    ).fetchone()
    con.close()
    assert opted_on_register >= 3
    row = next(
        p
        for p in as_user("analyst.london", "planning")
        .get("/api/v1/dashboards/london/LONDON")
        .json()["data"]["prevalence"]
        if p["definition"] == "HYP_REG"
    )
    _near(row["numerator"], everyone - opted_on_register)
    assert row["numerator"] < everyone - 2.5


def test_practice_level_counts_are_suppressed_or_rounded(as_user, web_env):
    c = as_user("analyst.london", "planning")
    london = c.get("/api/v1/dashboards/london/LONDON").json()["data"]
    ics = london["children"][0]["id"]
    borough = c.get(f"/api/v1/dashboards/ics/{ics}").json()["data"]["children"][0]["id"]
    pcn = c.get(f"/api/v1/dashboards/borough/{borough}").json()["data"]["children"][0]["id"]
    practices = c.get(f"/api/v1/dashboards/pcn/{pcn}").json()["data"]["children"]
    assert practices and all(p["level"] == "practice" for p in practices)
    practice = c.get(f"/api/v1/dashboards/practice/{practices[0]['id']}?definition=AF_REG").json()["data"]
    assert practice["children"] == []
    values = [p["numerator"] for p in practice["prevalence"]] + [i["numerator"] for i in practice["indicators"]]
    _counts_published(values)
    assert None in values, "a practice of ~80 patients must have some suppressed registers"
    for rows in practice["breakdowns"].values():
        _counts_published([r["numerator"] for r in rows] + [r["denominator"] for r in rows])
    t = _truth(web_env.store, "HYP_REG", [practices[0]["id"]])
    hyp = next(p for p in practice["prevalence"] if p["definition"] == "HYP_REG")
    _near(hyp["denominator"], t["population"])
    _near(hyp["numerator"], t["num"])


def test_breakdowns_match_results_by_imd_quintile(as_user, web_env):
    data = as_user("analyst.london", "planning").get("/api/v1/dashboards/london/LONDON").json()["data"]
    assert set(data["breakdowns"]) == {"imd_quintile", "ethnicity_6", "age_band", "sex"}
    con = duckdb.connect(str(web_env.store), read_only=True)
    truth = dict(
        con.execute(
            _cohort_sql()
            + """SELECT pop.imd_quintile, count(*) FROM results_patient r
                 JOIN pop ON pop.patient_id = r.patient_id AND pop.index_date = r.index_date
                      AND pop.snapshot_id = r.snapshot_id
                 WHERE r.definition_id = 'HYP_REG' GROUP BY 1""",
            {"dissent": DISSENT, "practices": None},
        ).fetchall()
    )
    con.close()
    rows = data["breakdowns"]["imd_quintile"]
    assert len(rows) == 5
    for q, row in zip(range(1, 6), rows, strict=True):
        assert row["value"].startswith(str(q))
        _near(row["numerator"], truth.get(q, 0))


def test_drill_down_from_london_to_a_practice_by_links(as_user):
    c = as_user("analyst.london", "planning")
    page = c.get("/dashboards/london")
    assert page.status_code == 200 and "<h1>London</h1>" in page.text
    trail = []
    for expected in ("ics", "borough", "pcn", "practice"):
        links = LINK_RE.findall(page.text)
        assert links, f"no drill-down links before {expected}"
        href = links[0]
        assert href.startswith(f"/dashboards/{expected}/")
        page = c.get(href + "?definition=HYP_REG")
        assert page.status_code == 200
        trail.append(href)
    for href in trail[:-1]:
        assert f'href="{href}"' in page.text
    assert 'href="/dashboards/london"' in page.text
    assert "Practice dashboard" in page.text


def test_page_cites_definition_version_and_run(as_user, web_env):
    page = as_user("analyst.london", "planning").get("/dashboards/london?definition=DM020").text
    con = duckdb.connect(str(web_env.store), read_only=True)
    run_id, snap = con.execute("SELECT run_id, snapshot_id FROM results_runs ORDER BY finished_at DESC").fetchone()
    version = con.execute(
        "SELECT any_value(definition_version) FROM results_patient WHERE definition_id = 'DM020'"
    ).fetchone()[0]
    con.close()
    assert run_id in page and snap in page
    assert re.search(rf"<strong>DM020</strong> version {re.escape(version)}", page)


def test_dashboard_page_has_charts_with_text_alternatives(as_user):
    """A page built for a request links its charts as SVG images with alt text (the page does not wait for
    vl-convert); each image is the accessible SVG the warm-up would have put inline."""
    c = as_user("analyst.london", "planning")
    page = c.get("/dashboards/london?definition=HYP_REG").text
    for fig in ("funnel", "spc", "imd", "ethnicity", "age", "sex"):
        assert f'id="figure-{fig}"' in page
    found = re.findall(r'<img class="cc-chart" src="([^"]+/charts/([a-z]+)\.svg\?[^"]+)" alt="([^"]+)"', page)
    images = {fig: (html.unescape(src), html.unescape(alt)) for src, fig, alt in found}
    assert {"funnel", "spc", "imd", "ethnicity"} <= set(images)
    for fig, (src, alt) in images.items():
        assert len(alt) > 60 and "." in alt, alt  # the chart's title, then what it shows
        r = c.get(src)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert "max-age" in r.headers["cache-control"]  # versioned URL: the browser may keep it
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert re.match(rf'<svg role="img" aria-labelledby="{fig}-title {fig}-desc"', r.text), r.text[:200]
        assert f'<title id="{fig}-title">' in r.text
        ElementTree.fromstring(r.text)  # well-formed XML: a browser draws an SVG image only then
    assert page.count("Show the data as a table") == 6
    assert "Slope index of inequality" in page
    assert "at each index date" in page


def test_chart_images_follow_the_page_s_version(as_user):
    c = as_user("analyst.london", "planning")
    page = c.get("/dashboards/london?definition=HYP_REG").text
    src = html.unescape(re.search(r'<img class="cc-chart" src="([^"]+/charts/funnel\.svg\?[^"]+)"', page).group(1))
    stale = re.sub(r"v=[0-9a-f]+", "v=0000", src)
    r = c.get(stale)  # an old page's chart: today's chart, never kept by the browser
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert c.get(src.replace("funnel.svg", "nope.svg")).status_code == 404


def test_direct_care_roles_cannot_see_chart_images(as_user, web_env):
    gp = next(u for u, (role, _) in web_env.users.items() if role == "gp")
    assert as_user(gp).get("/dashboards/london/LONDON/charts/funnel.svg?definition=HYP_REG").status_code == 403


def test_unknown_definition_and_org_are_404(as_user):
    c = as_user("analyst.london", "planning")
    assert c.get("/dashboards/london?definition=nope").status_code == 404
    assert c.get("/dashboards/practice/Z99999").status_code == 404
    r = c.get("/api/v1/dashboards/county/X")
    assert r.status_code == 404 and r.json()["error"]["title"] == "Not found"


def test_direct_care_roles_cannot_see_dashboards(as_user, web_env):
    gp = next(u for u, (role, _) in web_env.users.items() if role == "gp")
    c = as_user(gp)
    assert c.get("/dashboards/london").status_code == 403
    r = c.get("/api/v1/dashboards/london/LONDON")
    assert r.status_code == 403 and r.json()["error"]["fix"]


def test_dashboard_views_are_audited(as_user):
    c = as_user("analyst.borough", "planning")
    c.get("/dashboards/london?definition=COPD_REG")
    c.post(
        "/logout",
        data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', c.get("/dashboards/london").text).group(1)},
    )
    ig = as_user("ig.lead")
    page = ig.get("/governance/audit?user=analyst.borough&action=dashboard")
    assert "definition COPD_REG" in page.text


def test_age_sex_standardised_rate_matches_strata_from_results(as_user, web_env):
    """The DSR on the page equals stats.standardise.dsr over (age band, sex) strata counted here in plain SQL."""
    c = as_user("analyst.london", "planning")
    row = next(
        p
        for p in c.get("/api/v1/dashboards/london/LONDON").json()["data"]["prevalence"]
        if p["definition"] == "HYP_REG"
    )
    con = duckdb.connect(str(web_env.store), read_only=True)
    strata = con.execute(
        _cohort_sql()
        + """SELECT CASE WHEN pop.age >= 90 THEN 18 ELSE pop.age // 5 END AS band, pop.sex, count(*) AS n,
                    count(*) FILTER (WHERE EXISTS (SELECT 1 FROM results_patient r WHERE r.patient_id = pop.patient_id
                        AND r.index_date = pop.index_date AND r.snapshot_id = pop.snapshot_id
                        AND r.definition_id = 'HYP_REG' AND r.num)) AS o
             FROM pop WHERE pop.sex IN ('F', 'M') GROUP BY ALL ORDER BY ALL""",
        {"dissent": DISSENT, "practices": None},
    ).fetchall()
    con.close()
    band, sex, n, o = (np.array(col) for col in zip(*strata, strict=True))
    expected = dsr(o.astype(float), n.astype(float), band, sex, standard_bands=np.arange(19), n_sexes=2, multiplier=100)
    assert row["dsr"] == pytest.approx(expected.rate, abs=1e-3)
    assert row["dsr_lo"] == pytest.approx(expected.lower, abs=1e-3)
    assert row["dsr_hi"] == pytest.approx(expected.upper, abs=1e-3)
    assert row["dsr"] != pytest.approx(row["rate"], abs=1e-6)  # standardisation changes the figure


def test_a_practice_with_nobody_in_the_cohort_gets_an_empty_page_not_an_error(settings):
    """A small demo city has practices with no allowed patient at the latest date; building their page (the
    warm-up builds every practice's) failed on pairing definitions with no rows, which stopped the whole warm pass."""
    import dataclasses

    from carecommons.core.orgs import OrgLevel
    from carecommons.governance.purposes import Purpose, Requester
    from carecommons.web import dashboards
    from carecommons.web.app import create_app

    app = create_app(settings)
    from carecommons.governance import orgs
    from carecommons.governance.roles import Role

    requester = Requester(
        user_id="analyst.london", role=Role.ANALYST, org_id=orgs.LONDON_ORG_ID, purpose=Purpose.PLANNING
    )
    aggs = app.state.cc.aggregates.get(requester, app.state.cc.session_factory)
    latest = aggs.population[aggs.population["index_date"] == aggs.index_date]
    practice = str(latest.sort_values("denominator")["practice_id"].iloc[-1])
    emptied = dataclasses.replace(
        aggs,
        population=aggs.population[aggs.population["practice_id"] != practice],
        counts=aggs.counts[aggs.counts["practice_id"] != practice],
        strata=aggs.strata[aggs.strata["practice_id"] != practice],
        memo={},  # its own derived frames, not the original's
    )
    page = dashboards.build(emptied, OrgLevel.PRACTICE, practice)
    assert page.summary == [] and page.indicators == []
    assert dashboards.build(aggs, OrgLevel.PRACTICE, practice).summary  # the same practice with its patients


def test_a_warmed_page_carries_its_charts_inline(as_user, shared_app):
    """Pages the warm-up builds have their charts drawn in (one request, as before); pages built for a request
    link them as images. Both give the same accessible SVG."""
    from carecommons.core.orgs import OrgLevel
    from carecommons.web.routes.dashboards import cached_dashboard
    from carecommons.web.warm import planning_requesters

    c = as_user("analyst.london", "planning")
    linked = c.get("/dashboards/london?definition=CHD_REG").text
    st = shared_app.state.cc
    requester = next(r for r in planning_requesters(st.session_factory) if r.user_id == "analyst.london")
    aggs = st.aggregates.get(requester, st.session_factory)
    warmed = cached_dashboard(st, aggs, OrgLevel.LONDON, "LONDON", "AF_REG", draw=True)
    assert all(f.svg is not None for f in warmed.figures if f.chart is not None)
    page = c.get("/dashboards/london?definition=AF_REG").text
    assert 'class="cc-chart" src=' not in page and 'class="cc-chart" src=' in linked
    assert re.search(r'<svg role="img" aria-labelledby="funnel-title funnel-desc"', page)


def test_a_page_lent_the_default_page_s_tables_is_the_page_built_alone(shared_app):
    """Another definition's page takes the organisation's register and indicator tables from the default
    definition's page of the same cohort (as read back from the shared file): same page as built from scratch."""
    import pickle

    from carecommons.core.orgs import OrgLevel
    from carecommons.web import dashboards
    from carecommons.web.warm import planning_requesters

    st = shared_app.state.cc
    requester = next(r for r in planning_requesters(st.session_factory) if r.user_id == "analyst.london")
    aggs = st.aggregates.get(requester, st.session_factory)
    borough = sorted(aggs.practices["borough"].dropna().unique())[0]
    tables = [k for k in aggs.memo if k.startswith("org_tables")]
    for k in tables:
        del aggs.memo[k]
    alone = dashboards.as_json(dashboards.build(aggs, OrgLevel.BOROUGH, borough, "DM020"))
    default = pickle.loads(pickle.dumps(dashboards.build(aggs, OrgLevel.BOROUGH, borough)))
    for k in [k for k in aggs.memo if k.startswith("org_tables")]:
        del aggs.memo[k]
    dashboards.reuse_org_tables(aggs, default)
    lent = dashboards.as_json(dashboards.build(aggs, OrgLevel.BOROUGH, borough, "DM020"))
    assert lent == alone and lent["prevalence"] and lent["indicators"]


def test_primed_cohort_builds_the_same_pages(shared_app):
    """`prime` (the warm-up runs it in every worker) only derives frames ahead of time: pages are unchanged."""
    import dataclasses

    from carecommons.core.orgs import OrgLevel
    from carecommons.web import dashboards
    from carecommons.web.warm import planning_requesters

    st = shared_app.state.cc
    requester = next(r for r in planning_requesters(st.session_factory) if r.user_id == "analyst.london")
    aggs = dataclasses.replace(st.aggregates.get(requester, st.session_factory), memo={})
    pcn = sorted(aggs.practices["pcn_id"].dropna().unique())[0]
    cold = [dashboards.as_json(dashboards.build(aggs, lvl, org, "DM020")) for lvl, org in
            ((OrgLevel.LONDON, "LONDON"), (OrgLevel.PCN, pcn))]  # fmt: skip
    aggs = dataclasses.replace(aggs, memo={})
    dashboards.prime(aggs)
    assert {"counts_by_definition", "strata_split_age_sex", "latest_counts"} <= set(aggs.memo)
    warm = [dashboards.as_json(dashboards.build(aggs, lvl, org, "DM020")) for lvl, org in
            ((OrgLevel.LONDON, "LONDON"), (OrgLevel.PCN, pcn))]  # fmt: skip
    assert warm == cold and cold[0]["breakdowns"]["age_band"]
