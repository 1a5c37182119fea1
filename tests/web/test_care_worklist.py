"""Worklist pages through the real app: governed list, filters, CSV export, batch invite into the outbox."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from carecommons.governance import audit
from carecommons.store.models.care import OutboxMessage
from carecommons.store.operational import make_engine, make_sessionmaker

from .conftest import csrf_from


def _first(web_env, role: str) -> str:
    return next(u for u, (r, _o) in web_env.users.items() if r == role)


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-patient="(\d+)"', html)]


def _invite(client, page_html: str, chosen: list[int], channel: str, **fields: str):
    """Post the page's invite form for `chosen` with the review template (and any filter or page fields)."""
    data = {"patient_id": [str(i) for i in chosen], "template": "review", "channel": channel, **fields}
    return client.post(
        "/care/worklist/invite", data={**data, "csrf_token": csrf_from(page_html)}, follow_redirects=False
    )


def test_practice_manager_sees_filters_exports_and_invites(as_user, web_env):
    pm = _first(web_env, "practice_manager")
    practice = web_env.users[pm][1]
    client = as_user(pm)
    page = client.get("/care/worklist")
    assert page.status_code == 200, page.text[:300]
    ids = _ids(page.text)
    assert ids, "the demo practice has patients due something"

    recalls = client.get("/care/worklist", params={"kind": "recall"})
    assert recalls.status_code == 200
    assert set(_ids(recalls.text)) <= set(ids)
    assert "Case finding</strong>" not in recalls.text.split('id="worklist"')[1]

    export = client.get("/care/worklist.csv", params={"kind": "recall"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert f"worklist-{practice}-" in export.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(export.text)))
    assert {int(line["patient_id"]) for line in lines} == set(_ids(recalls.text))
    assert {line["kind"] for line in lines} == {"recall"}

    chosen = _ids(recalls.text)[:2]
    r = _invite(client, recalls.text, chosen, "sms", kind="recall")
    assert r.status_code == 303 and "batch=" in r.headers["location"] and "kind=recall" in r.headers["location"]
    done = client.get(r.headers["location"])
    banner = done.text.split('data-testid="invite-result"')[1].split("</div>")[0]
    assert f"{len(chosen)} message{'s' if len(chosen) != 1 else ''} queued (SMS)" in banner

    with make_sessionmaker(make_engine(web_env.url))() as session:
        msgs = session.execute(select(OutboxMessage).where(OutboxMessage.patient_id.in_(chosen))).scalars().all()
        assert {m.patient_id for m in msgs} == set(chosen)
        assert all(m.practice_id == practice and m.status == "queued" for m in msgs)
        actions = {e.action for e in audit.entries_for_patient(session, chosen[0])}
        assert {"worklist.view", "worklist.export", "invite.batch"} <= actions


def test_invite_without_selection_sends_nothing(as_user, web_env):
    client = as_user(_first(web_env, "practice_manager"))
    token = csrf_from(client.get("/care/worklist").text)
    r = client.post("/care/worklist/invite", data={"template": "review", "channel": "sms", "csrf_token": token})
    assert r.status_code == 200 and "Nothing was sent" in r.text


def test_worklist_is_for_practice_staff_only(as_user, web_env):
    client = as_user("analyst.london")
    assert client.get("/care/worklist").status_code == 403
    assert client.get("/care/worklist.csv").status_code == 403


def test_bad_filter_is_reported_not_echoed(as_user, web_env):
    client = as_user(_first(web_env, "practice_manager"))
    r = client.get("/care/worklist", params={"age_min": "sixty<script>"})
    assert r.status_code == 400 and "There is a problem" in r.text and "sixty<script>" not in r.text


def test_risk_case_finding_source_adds_frailty_without_a_care_plan(tmp_path):
    """The web's risk source: 10 eFI deficits (severe frailty) and no care plan puts an 85-year-old on the list."""
    import datetime as dt
    import importlib
    import sys
    from pathlib import Path

    import duckdb

    from carecommons.care.rules import ItemKind
    from carecommons.risk import codes
    from carecommons.web.routes.care_worklists import RiskCaseFinding

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "care"))
    data = importlib.import_module("care_testdata")
    con = duckdb.connect()
    data.build_store(con)
    for i, deficit in enumerate(codes.EFI_DEFICITS[:10]):
        code = sorted(codes.snomed(f"efi:{deficit}").codes)[0]
        con.execute("INSERT INTO events VALUES (103, 'P1', ?, ?, NULL, NULL, 'L1')", [code, dt.date(2024, 1, 1 + i)])
    con.execute("CREATE TEMP TABLE pop AS SELECT * FROM (VALUES (103::BIGINT), (106::BIGINT)) t(patient_id)")
    source = RiskCaseFinding(("test-store", 1.0), frozenset())
    items = list(source.items(con, "pop", "P1", data.INDEX))
    assert [(i.patient_id, i.rule_id, i.kind) for i in items] == [
        (103, "risk:frailty_no_care_plan", ItemKind.CASE_FINDING)
    ]
    assert items[0].detail  # the evidence a clinician checks
    with_plan = RiskCaseFinding(("test-store", 1.0), frozenset({103}))
    assert list(with_plan.items(con, "pop", "P1", data.INDEX)) == []


def test_start_up_summary_serves_the_same_worklist(as_user, web_env, settings):
    """`carecommons serve` summarises the store for the worklist rules after start-up (care.rule_inputs); the
    page then lists exactly the patients and reasons it listed by scanning the store."""
    import dataclasses
    import datetime as dt
    import gc

    from carecommons.care import rule_inputs, worklists
    from carecommons.web.app import warm_worklists_in_background

    pm = _first(web_env, "practice_manager")
    rule_inputs.forget()
    worklists.clear_items_cache()
    scanned = as_user(pm).get("/care/worklist")
    assert scanned.status_code == 200 and _ids(scanned.text)
    try:
        warm_worklists_in_background(dataclasses.replace(settings, warm_worklists=True)).join(timeout=120)
        summary = rule_inputs._current
        assert summary is not None and len(summary.patient_id) > 0
        assert gc.get_freeze_count() > 0  # the worker's start-up objects are out of the collector's way
        assert summary.covers(worklists.rule_lists(), dt.date.today())  # so today's view reads it
        worklists.clear_items_cache()
        from_summary = as_user(pm).get("/care/worklist")
        assert from_summary.status_code == 200
        assert _ids(from_summary.text) == _ids(scanned.text)
        # Same rows, reasons, dates and readings, in the same order.
        table = re.compile(r"<tbody.*?</tbody>", re.S)
        assert table.findall(scanned.text) and table.findall(from_summary.text) == table.findall(scanned.text)
    finally:
        gc.unfreeze()
        rule_inputs.forget()
        worklists.clear_items_cache()


def test_worklist_pages_through_the_whole_list(as_user, web_env, monkeypatch):
    from carecommons.web.routes import care_worklists

    monkeypatch.setattr(care_worklists, "WORKLIST_PAGE_SIZE", 3)
    client = as_user(_first(web_env, "practice_manager"))
    whole = [int(line["patient_id"]) for line in csv.DictReader(io.StringIO(client.get("/care/worklist.csv").text))]
    expected = list(dict.fromkeys(whole))  # one CSV line per reason, patients in list order
    assert len(expected) > 3, "the demo practice needs more than one page of patients"
    pages = -(-len(expected) // 3)
    seen: list[int] = []
    for n in range(1, pages + 1):
        page = client.get("/care/worklist", params={"kind": "", "page": str(n)})
        assert page.status_code == 200, page.text[:300]
        caption = page.text.split('data-testid="worklist-caption">')[1].split("</caption>")[0]
        last = min(3 * n, len(expected))
        assert f"Patients {3 * n - 2} to {last} of {len(expected)}" in caption and f"page {n} of {pages}" in caption
        assert ('rel="next"' in page.text) == (n < pages) and ('rel="prev"' in page.text) == (n > 1)
        seen += _ids(page.text)
    assert seen == expected

    past = client.get("/care/worklist", params={"page": str(pages + 1)})
    assert past.status_code == 400 and f"use a page from 1 to {pages}" in past.text
    assert _ids(past.text) == expected[:3]
    bad = client.get("/care/worklist", params={"page": "two"})
    assert bad.status_code == 400 and "is not a page number" in bad.text


def test_invite_returns_to_the_same_page(as_user, web_env, monkeypatch):
    from carecommons.web.routes import care_worklists

    monkeypatch.setattr(care_worklists, "WORKLIST_PAGE_SIZE", 3)
    client = as_user(_first(web_env, "practice_manager"))
    second = client.get("/care/worklist", params={"page": "2"})
    assert second.status_code == 200
    chosen = _ids(second.text)[:1]
    r = _invite(client, second.text, chosen, "letter", page="2")
    assert r.status_code == 303 and "page=2" in r.headers["location"] and "batch=" in r.headers["location"]
    back = client.get(r.headers["location"])
    assert "page 2 of" in back.text and _ids(back.text) == _ids(second.text)
