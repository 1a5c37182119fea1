"""Accessibility of every main page (HTML checks) and of the NHS.UK colours the pages and charts use."""

from __future__ import annotations

import pytest

from carecommons.reference.symptoms import load_guidance
from carecommons.web import charts
from tests.web.a11y import contrast, problems

PUBLIC = ["/transparency", "/accessibility", "/login", "/no-such-page"]
ANALYST = ["/dashboards/london", "/dashboards/ics/NCL?definition=DM_REG", "/purpose"]
IG = [
    "/governance",
    "/governance/agreements",
    "/governance/audit",
    "/governance/opt-outs",
    "/governance/audit?patient=x",
]


def test_public_pages(client):
    for path in PUBLIC:
        assert problems(client.get(path).text) == [], path


def test_analyst_pages(as_user):
    c = as_user("analyst.london", "planning")
    for path in ANALYST:
        assert problems(c.get(path).text) == [], path
    path = "/api/v1/dashboards/london/LONDON"
    for level in ("ics", "borough", "pcn", "practice"):
        child = c.get(path).json()["data"]["children"][0]
        path = f"/api/v1/dashboards/{level}/{child['id']}"
        assert problems(c.get(path.replace("/api/v1", "")).text) == [], path


def test_governance_pages(as_user):
    c = as_user("ig.lead")
    for path in IG:
        assert problems(c.get(path).text) == [], path


def test_clinical_pages(as_user, web_env):
    c = as_user(next(u for u, (role, _) in web_env.users.items() if role == "gp"))
    slug = load_guidance().entries[0].slug
    for path in ("/symptoms", "/symptoms?q=cough", f"/symptoms/{slug}"):
        assert problems(c.get(path).text) == [], path


def test_checker_catches_real_problems():
    bad = '<h1>A</h1><h1>B</h1><h3>C</h3><input id="x" name="q"><svg><path/></svg><img src="a.png">'
    found = problems(bad)
    assert any("one h1" in p for p in found)
    assert any("h1 to h3" in p for p in found)
    assert any("without a label" in p for p in found)
    assert sum("text alternative" in p for p in found) == 2
    good = '<h1>A</h1><h2>B</h2><label for="x">Q</label><input id="x"><svg role="img" aria-labelledby="t"><title id="t">T</title></svg>'
    assert problems(good) == []


@pytest.mark.parametrize(
    ("fg", "bg", "minimum"),
    [
        ("#212b32", "#ffffff", 4.5),  # body text
        ("#4c6272", "#ffffff", 4.5),  # secondary text
        ("#005eb8", "#ffffff", 4.5),  # links
        ("#ffffff", "#005eb8", 4.5),  # header
        ("#ffffff", "#007f3b", 4.5),  # primary button
        ("#212b32", "#f0f4f5", 4.5),  # text on page background
        (charts.NHS_BLUE, "#ffffff", 3.0),  # chart marks (graphics: 3:1)
        (charts.NHS_RED, "#ffffff", 3.0),
        (charts.NHS_GREEN, "#ffffff", 3.0),
        (charts.NHS_DARK_GREY, "#ffffff", 3.0),
        (charts.NHS_PURPLE, "#ffffff", 3.0),
    ],
)
def test_palette_contrast(fg, bg, minimum):
    assert contrast(fg, bg) >= minimum


def test_contrast_formula_against_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#ffb81c", "#ffffff") < 3.0  # why the SPC chart does not use NHS warm yellow
