"""The public transparency page (no sign-in) and the consultation reference."""

from __future__ import annotations

import re

from markupsafe import escape
from sqlalchemy import select

from carecommons.reference.symptoms import load_guidance
from carecommons.store.models.governance import Agreement
from carecommons.store.operational import make_engine, make_sessionmaker


def test_transparency_page_needs_no_sign_in_and_lists_agreements(client, web_env):
    r = client.get("/transparency")
    assert r.status_code == 200
    assert "<h1>How your GP record is used</h1>" in r.text
    for heading in (
        "What information we use",
        "Who uses it, and why",
        "Your choices",
        "Data-sharing agreements in force",
    ):
        assert heading in r.text
    with make_sessionmaker(make_engine(web_env.url))() as s:
        names = list(s.scalars(select(Agreement.name)))
    assert any(n in r.text for n in names)
    views = re.findall(r'<dd class="nhsuk-summary-list__value">([^<]+)</dd>', r.text)
    assert len(views) == 3
    for v in views:
        assert v == "fewer than 8" or int(v.split()[0].replace(",", "")) % 5 == 0


def test_home_sends_visitors_to_transparency(client):
    r = client.get("/", follow_redirects=False)
    assert r.headers["location"] == "/transparency"


def test_symptom_search_ranks_name_matches_first(as_user, web_env):
    gp = next(u for u, (role, _) in web_env.users.items() if role == "gp")
    c = as_user(gp)
    page = c.get("/symptoms?q=chest+pain")
    assert page.status_code == 200
    names = re.findall(r'<a class="nhsuk-link" href="/symptoms/[^"]+"><strong>([^<]+)</strong>', page.text)
    assert names and names[0].lower().startswith("chest pain")
    assert 'data-testid="sign-off-warning"' in page.text  # draft content is flagged


def test_symptom_category_filter_and_counts(as_user, web_env):
    c = as_user(next(u for u, (role, _) in web_env.users.items() if role == "gp"))
    guidance = load_guidance()
    category = guidance.categories[0]
    page = c.get(f"/symptoms?category={category}")
    expected = [e.symptom for e in guidance.entries if e.category == category]
    assert f"{len(expected)} of {len(guidance.entries)} symptoms" in page.text
    assert page.text.count('<a class="nhsuk-link" href="/symptoms/') == len(expected)


def test_symptom_detail_shows_red_flags_and_cited_guidance(as_user, web_env):
    c = as_user(next(u for u, (role, _) in web_env.users.items() if role == "gp"))
    entry = next(e for e in load_guidance().entries if any(r.code == "NG12" for r in e.references))
    page = c.get(f"/symptoms/{entry.slug}")
    assert page.status_code == 200
    for flag in entry.red_flags:
        assert str(escape(flag)) in page.text
    assert "NG12" in page.text and "nice.org.uk" in page.text
    assert c.get("/symptoms/not-a-symptom").status_code == 404


def test_symptom_reference_needs_sign_in(client):
    assert client.get("/symptoms", follow_redirects=False).status_code == 303
