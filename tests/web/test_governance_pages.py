"""Governance pages for the IG lead: agreements, audit search and chain verification, opt-out figures."""

from __future__ import annotations

import re

from sqlalchemy import select

from carecommons.governance import audit
from carecommons.store.models.governance import Agreement, AuditEntry
from carecommons.store.operational import make_engine, make_sessionmaker
from tests.web.conftest import csrf_from


def _sessions(web_env):
    return make_sessionmaker(make_engine(web_env.url))


def test_ig_lead_sees_seeded_agreements(as_user, web_env):
    page = as_user("ig.lead").get("/governance/agreements")
    assert page.status_code == 200
    with _sessions(web_env)() as s:
        names = list(s.scalars(select(Agreement.name)))
    assert names
    for name in names:
        assert name in page.text
    assert page.text.count("In force") >= len(names)


def test_ig_lead_creates_an_agreement_and_it_is_audited(as_user, web_env):
    c = as_user("ig.lead")
    page = c.get("/governance/agreements")
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "Test planning agreement",
        "from_org": "london",
        "to_org": "icb:NCL",
        "purposes": ["planning"],
        "flows": ["gp->planning"],
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
    }
    r = c.post("/governance/agreements", data=form, follow_redirects=False)
    assert r.status_code == 303
    created = int(r.headers["location"].rsplit("=", 1)[1])
    with _sessions(web_env)() as s:
        a = s.get(Agreement, created)
        assert a.name == "Test planning agreement" and a.to_org_id == "icb:NCL"
        assert [(p.purpose, p.flow) for p in a.permissions] == [("planning", "gp->planning")]
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(5)).all()
        assert any(e.action == "agreement.create" and e.user_id == "ig.lead" for e in entry)
    assert "Test planning agreement" in c.get(r.headers["location"]).text


def test_agreement_form_reports_each_missing_field(as_user):
    c = as_user("ig.lead")
    token = csrf_from(c.get("/governance/agreements").text)
    r = c.post("/governance/agreements", data={"csrf_token": token, "name": "", "valid_from": "01/02/2026"})
    assert r.status_code == 400
    assert "There is a problem" in r.text
    for message in (
        "Enter a name",
        "Choose the organisation sharing",
        "Choose at least one purpose",
        "Choose at least one data flow",
        "YYYY-MM-DD",
    ):
        assert message in r.text
    r = c.post(
        "/governance/agreements",
        data={"csrf_token": token, "name": "x", "from_org": "london", "to_org": "london", "purposes": ["planning"],
              "flows": ["gp->planning"], "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
    )  # fmt: skip
    assert r.status_code == 400 and "valid_to" in r.text


def test_audit_search_filters_and_validates(as_user, web_env):
    as_user("analyst.pcn", "planning").get("/dashboards/london?definition=HF_REG")
    c = as_user("ig.lead")
    everything = re.findall(r'data-col="action">([^<]+)<', c.get("/governance/audit").text)
    assert "dashboard.view" in everything and any(a != "dashboard.view" for a in everything)
    page = c.get("/governance/audit?action=dashboard&user=analyst.pcn")
    assert page.status_code == 200
    actions = re.findall(r'data-col="action">([^<]+)<', page.text)
    assert actions and set(actions) == {"dashboard.view"}
    assert "definition HF_REG" in page.text
    r = c.get("/governance/audit?patient=12a&from=yesterday")
    assert r.status_code == 400
    assert "digits only" in r.text and "12a" not in r.text.split("There is a problem")[1].split("</div>")[0]


def test_verify_chain_intact_then_broken_after_tampering(as_user, web_env):
    c = as_user("ig.lead")
    page = c.get("/governance/audit")
    r = c.post("/governance/audit/verify", data={"csrf_token": csrf_from(page.text)})
    assert r.status_code == 200 and "The audit chain is intact" in r.text
    with _sessions(web_env)() as s:
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.seq).limit(1)).one()
        original = entry.detail
        entry.detail = original + " (altered)"
        s.commit()
        seq = entry.seq
    try:
        r = c.post("/governance/audit/verify", data={"csrf_token": csrf_from(page.text)})
        assert "The audit chain is broken" in r.text
        assert f"Entry {seq} does not match" in r.text
    finally:
        with _sessions(web_env)() as s:
            s.get(AuditEntry, seq).detail = original
            s.commit()
            assert audit.verify(s).ok


def test_opt_out_figures_are_published(as_user, web_env):
    page = as_user("ig.lead").get("/governance/opt-outs")
    assert page.status_code == 200
    total = re.search(r'data-testid="type1-total">([^<]+)<', page.text).group(1)
    n = int(total.split(" of ")[0].replace(",", ""))
    assert n % 5 == 0 and n > 0
    import duckdb

    con = duckdb.connect(str(web_env.store), read_only=True)
    true = con.execute("SELECT count(DISTINCT patient_id) FROM events WHERE code = '827241000000103'").fetchone()[0]
    con.close()
    assert abs(n - true) <= 2.5


def test_other_roles_cannot_use_governance_pages(as_user):
    c = as_user("analyst.london", "planning")
    for path in ("/governance", "/governance/agreements", "/governance/audit", "/governance/opt-outs"):
        assert c.get(path).status_code == 403
