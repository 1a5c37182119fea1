"""Patient record, search, break-glass and care-plan pages through the real app, over a store with names and
linked hospital/social-care records (tests/care/care_testdata.py) seeded by governance's demo seed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from carecommons.governance import audit
from carecommons.store.models.governance import BreakGlassAlert
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.app import create_app
from carecommons.web.settings import Settings

from .conftest import csrf_from, login


def _session(env):
    return make_sessionmaker(make_engine(env.url))()


def test_gp_opens_the_linked_record_and_it_is_audited(as_care_user, care_env):
    client = as_care_user("gp.p1")
    page = client.get("/care/patients/101")
    assert page.status_code == 200, page.text[:300]
    assert "Ann Able" in page.text and "Hypertension (since 2020-05-01)" in page.text
    assert 'id="hospital"' in page.text and 'id="social-care"' in page.text and "Home care" in page.text
    assert "Electronic Frailty Index" in page.text
    with _session(care_env) as s:
        views = [e for e in audit.entries_for_patient(s, 101) if e.action == "record.view" and e.user_id == "gp.p1"]
        assert views and views[-1].purpose == "direct_care"


def test_search_finds_only_patients_you_care_for(as_care_user):
    client = as_care_user("gp.p1")
    page = client.get("/care/patients", params={"q": "able"})
    assert page.status_code == 200 and 'href="/care/patients/101"' in page.text
    other = client.get("/care/patients", params={"q": "Gray"})  # registered at P2
    assert 'href="/care/patients/107"' not in other.text and "No patient you care for matches" in other.text


def test_break_glass_needs_a_reason_and_raises_an_alert(as_care_user, care_env):
    client = as_care_user("mdt.districtnurse")
    assert client.get("/care/patients/101").status_code == 200  # on the caseload
    refused = client.get("/care/patients/107")
    assert refused.status_code == 403 and "break the glass" in refused.text.lower()
    token = csrf_from(refused.text)
    short = client.post("/care/patients/107/break-glass", data={"reason": "need", "csrf_token": token})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    opened = client.post(
        "/care/patients/107/break-glass", data={"reason": "Called to the home, found collapsed", "csrf_token": token}
    )
    assert opened.status_code == 200 and 'data-testid="break-glass-banner"' in opened.text and "Gus Gray" in opened.text
    with _session(care_env) as s:
        alerts = s.execute(select(BreakGlassAlert).where(BreakGlassAlert.patient_id == 107)).scalars().all()
        assert [a.user_id for a in alerts] == ["mdt.districtnurse"]
        assert "break_glass" in [e.action for e in audit.entries_for_patient(s, 107)]


def test_practice_manager_cannot_break_glass(as_care_user):
    client = as_care_user("pm.p1")
    refused = client.get("/care/patients/107")
    assert refused.status_code == 403 and "Break the glass" not in refused.text


def test_care_plan_create_edit_and_conflict(as_care_user):
    client = as_care_user("gp.p1")
    form = client.get("/care/patients/102/care-plans/new")
    token = csrf_from(form.text)
    r = client.post(
        "/care/patients/102/care-plans",
        data={"title": "Heart health", "summary": "Wants to keep gardening", "goal_0": "BP under 140/90",
              "action_0": "Home BP monitor", "action_0_due": "2026-12-01", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "Heart health" in page.text and "Home BP monitor" in page.text
    plan_id = int(page.text.split("/care/care-plans/")[1].split("/")[0])
    edit = client.get(f"/care/care-plans/{plan_id}/edit")
    assert 'name="version" value="1"' in edit.text
    # Two people edit version 1; the second save is refused and shows both versions.
    first = client.post(
        f"/care/care-plans/{plan_id}",
        data={
            "version": "1",
            "title": "Heart health",
            "summary": "Lives alone",
            "status": "active",
            "csrf_token": token,
        },
    )
    assert first.status_code == 200  # redirected to the record
    second = client.post(
        f"/care/care-plans/{plan_id}",
        data={"version": "1", "title": "Mine wins", "summary": "", "status": "active", "csrf_token": token},
    )
    assert second.status_code == 409 and 'data-testid="edit-conflict"' in second.text
    assert 'value="Mine wins"' in second.text and "Lives alone" in second.text
    bad_date = client.post(
        f"/care/care-plans/{plan_id}",
        data={"version": "2", "title": "x", "review_date": "soon", "status": "active", "csrf_token": token},
    )
    assert bad_date.status_code == 400 and "review date" in bad_date.text


def test_record_and_search_with_the_store_held_open_from_several_threads(care_env):
    """`serve` keeps one read-only handle on the store so requests' connections reuse it; each request still
    gets its own connection (own temp tables), so concurrent record views and searches give the same pages."""
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(
        store_path=Path(care_env.store),
        operational_url=care_env.url,
        secret_key="care-secret-" + "y" * 20,
        keep_store_open=True,
    )
    with TestClient(create_app(settings)) as client:
        assert login(client, "gp.p1", care_env.password).status_code == 303

        def view(i: int) -> tuple[int, bool]:
            if i % 2:
                r = client.get("/care/patients", params={"q": "able"})
                return r.status_code, 'href="/care/patients/101"' in r.text
            r = client.get("/care/patients/101")
            return r.status_code, "Ann Able" in r.text and "Hypertension (since 2020-05-01)" in r.text

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(view, range(24)))
    assert results == [(200, True)] * 24
