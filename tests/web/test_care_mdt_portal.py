"""MDT task handover and the patient/carer portal through the real app."""

from __future__ import annotations

from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from carecommons.governance.cohort import allowed_patients
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.app import create_app
from carecommons.web.settings import Settings

from .conftest import care_testdata, csrf_from, login


def test_task_handover_from_gp_to_district_nurse_to_social_worker(as_care_user):
    gp = as_care_user("gp.p1")
    form = gp.get("/care/tasks/new", params={"patient_id": 101})
    r = gp.post(
        "/care/tasks",
        data={"patient_id": "101", "title": "Falls assessment at home", "to_user_id": "mdt.districtnurse",
              "due_date": "2026-12-10", "csrf_token": csrf_from(form.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    task_id = int(r.headers["location"].split("/")[-1].split("?")[0])

    nurse = as_care_user("mdt.districtnurse")
    caseload = nurse.get("/care/caseload")
    assert caseload.status_code == 200 and 'href="/care/patients/101"' in caseload.text
    inbox = nurse.get("/care/tasks")
    assert f'data-task="{task_id}"' in inbox.text.split('id="inbox"')[1].split("</table>")[0]
    page = nurse.get(f"/care/tasks/{task_id}")
    token = csrf_from(page.text)
    assert (
        nurse.post(
            f"/care/tasks/{task_id}/status", data={"version": "1", "status": "in_progress", "csrf_token": token}
        ).status_code
        == 200
    )
    stale = nurse.post(f"/care/tasks/{task_id}/status", data={"version": "1", "status": "done", "csrf_token": token})
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    handed = nurse.post(
        f"/care/tasks/{task_id}/handover",
        data={"version": "2", "to_user_id": "mdt.socialworker", "note": "needs a care package", "csrf_token": token},
    )
    assert handed.status_code == 200 and 'data-testid="handed-over"' in handed.text

    social = as_care_user("mdt.socialworker")
    assert f'data-task="{task_id}"' in social.get("/care/tasks").text
    detail = social.get(f"/care/tasks/{task_id}")
    assert "needs a care package" in detail.text and "handed over" in detail.text
    assert f'data-task="{task_id}"' not in nurse.get("/care/tasks").text.split('id="inbox"')[1].split("</table>")[0]


def test_task_form_reports_missing_addressee(as_care_user):
    gp = as_care_user("gp.p1")
    form = gp.get("/care/tasks/new", params={"patient_id": 101})
    r = gp.post("/care/tasks", data={"patient_id": "101", "title": "x", "csrf_token": csrf_from(form.text)})
    assert r.status_code == 400 and "There is a problem" in r.text


def test_patient_changes_opt_out_and_sees_who_looked(as_care_user, care_env):
    pid = care_env.patient_id
    as_care_user("gp.p1").get(f"/care/patients/{pid}")  # the GP looks first
    patient = as_care_user("patient.demo")
    home = patient.get("/portal", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == f"/portal/{pid}"
    summary = patient.get(f"/portal/{pid}")
    assert summary.status_code == 200 and "Your record" in summary.text
    choices = patient.get(f"/portal/{pid}/choices")
    assert "Currently: <strong>sharing</strong>" in choices.text
    r = patient.post(
        f"/portal/{pid}/choices", data={"kind": "type1", "choice": "out", "csrf_token": csrf_from(choices.text)}
    )
    assert r.status_code == 200 and 'data-testid="choice-saved"' in r.text
    assert "opted out (not shared)" in r.text.split('data-testid="status-type1"')[1].split("</p>")[0]
    # Takes effect at once: a planning query now leaves this patient out.
    engine = make_engine(care_env.url)
    con = duckdb.connect(care_env.store, read_only=True)
    try:
        with make_sessionmaker(engine)() as session:
            analyst = Requester("analyst.london", "analyst", "london", Purpose.PLANNING)
            table = allowed_patients(con, analyst, session)
            assert pid not in {r[0] for r in con.execute(f"SELECT patient_id FROM {table}").fetchall()}
    finally:
        con.close()
        engine.dispose()
    log = patient.get(f"/portal/{pid}/access-log")
    assert log.status_code == 200
    body = log.text.split('id="access-log"')[1]
    assert "Looked at your record" in body and "GP at P1" in body
    assert "Changed your data-sharing choices" in body and "your care" in body
    # The patient cannot open anyone else's record.
    assert patient.get("/portal/101").status_code == 403


def test_carer_with_consent_acts_as_proxy_and_without_is_refused(as_care_user, care_env):
    pid = care_env.patient_id
    carer = as_care_user("carer.demo")
    home = carer.get("/portal")
    assert f'href="/portal/{pid}"' in home.text
    page = carer.get(f"/portal/{pid}")
    assert page.status_code == 200 and 'data-testid="proxy-banner"' in page.text
    stranger = as_care_user("carer.nocon")
    home = stranger.get("/portal")
    assert 'data-testid="no-consent"' in home.text
    refused = stranger.get(f"/portal/{pid}")
    assert refused.status_code == 403
    assert stranger.get(f"/portal/{pid}/access-log").status_code == 403
    assert (
        stranger.post(
            f"/portal/{pid}/choices", data={"kind": "ndop", "choice": "out", "csrf_token": csrf_from(home.text)}
        ).status_code
        == 403
    )


def test_professionals_cannot_use_the_portal(as_care_user):
    assert as_care_user("gp.p1").get("/portal").status_code == 403


def test_access_log_pages_through_a_long_history(tmp_path):
    """A patient on a busy practice worklist gathers an entry per listing: the page shows 50, newest first,
    with links to older pages, and a page past the end is a clear 400."""
    from carecommons.governance import audit

    env = care_testdata.make_care_web_env(tmp_path)
    engine = make_engine(env.url)
    gp = Requester("gp.p1", "gp", "P1", Purpose.DIRECT_CARE)
    with make_sessionmaker(engine)() as session:
        for _ in range(61):
            audit.record(session, gp, "worklist.view", patient_ids=[env.patient_id])
    engine.dispose()
    settings = Settings(store_path=Path(env.store), operational_url=env.url, secret_key="care-secret-" + "p" * 20)
    with TestClient(create_app(settings)) as client:
        login(client, "patient.demo", env.password)
        url = f"/portal/{env.patient_id}/access-log"
        first = client.get(url)
        assert first.status_code == 200
        rows = first.text.split('id="access-log"')[1].split("</table>")[0].count('<tr class="nhsuk-table__row">') - 1
        assert rows == 50
        assert "Showing entries 1 to 50 of 61 (page 1 of 2)" in first.text
        assert 'href="?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
        second = client.get(url + "?page=2")
        assert "Showing entries 51 to 61 of 61 (page 2 of 2)" in second.text
        assert 'href="?page=1" rel="prev"' in second.text and 'rel="next"' not in second.text
        past = client.get(url + "?page=3")
        assert past.status_code == 400 and "past the last page" in past.text
        assert client.get(url + "?page=abc").status_code in (400, 422)
