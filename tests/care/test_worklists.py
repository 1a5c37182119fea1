"""Worklists: the right patients for the right reasons, filtered, governed, audited, exported."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import pytest
from care_testdata import INDEX

from carecommons.care.rules import ItemKind, season_start
from carecommons.care.worklists import (
    CSV_COLUMNS,
    WorklistFilters,
    WorklistItem,
    export_csv,
    items_for_patient,
    worklist,
    worklist_page,
)
from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit

# By hand from the fixture comments: P1's list on 2026-06-30.
EXPECTED = {
    101: {"hyp-bp-review"},
    102: {"hyp-bp-uncontrolled"},
    104: {"possible-hypertension"},
    105: {"possible-hypertension"},
    106: {"dm-hba1c-high", "flu-65"},
}


def _reasons(rows) -> dict[int, set[str]]:
    return {r.patient_id: {i.rule_id for i in r.items} for r in rows}


def test_worklist_lists_exactly_the_patients_due(con, session, people):
    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
    assert _reasons(rows) == EXPECTED
    # Most reasons first.
    assert rows[0].patient_id == 106
    fay = rows[0]
    hba1c = next(i for i in fay.items if i.rule_id == "dm-hba1c-high")
    assert (hba1c.value, hba1c.last_date, hba1c.kind) == (60.0, dt.date(2026, 5, 1), ItemKind.CARE_GAP)
    assert fay.age == 70 and fay.given_name == "Fay"
    review = next(r for r in rows if r.patient_id == 101).items[0]
    assert review.last_date == dt.date(2025, 1, 10) and review.kind is ItemKind.RECALL


def test_filters_narrow_the_list(con, session, people):
    def ids(**kw):
        return set(_reasons(worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX, **kw))))

    assert ids(kinds=frozenset({ItemKind.CASE_FINDING})) == {104, 105}
    assert ids(rule_ids=frozenset({"flu-65"})) == {106}
    assert ids(sex="M") == {102, 104}
    assert ids(age_min=65) == {106}
    assert ids(age_max=45) == {105}
    assert len(worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX, limit=2))) == 2
    with pytest.raises(InvalidInput):
        ids(sex="X")


def test_pages_cut_the_same_order_and_audit_only_what_is_shown(con, session, people):
    whole = [r.patient_id for r in worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))]
    audited_before = {p: len(audit.entries_for_patient(session, p)) for p in whole}
    pages = [
        worklist_page(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX), page=n, page_size=2)
        for n in (1, 2, 3)
    ]
    assert [len(p.rows) for p in pages] == [2, 2, 1]
    assert [r.patient_id for p in pages for r in p.rows] == whole
    assert {(p.total, p.pages) for p in pages} == {(5, 3)}
    assert (pages[2].first, pages[2].last) == (5, 5)
    # Each page audited its own patients once: every listed patient gained exactly one entry over three pages.
    gained = {p: len(audit.entries_for_patient(session, p)) - audited_before[p] for p in whole}
    assert gained == dict.fromkeys(whole, 1)
    assert audit.verify(session).ok
    with pytest.raises(InvalidInput, match="past the last page") as err:
        worklist_page(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX), page=4, page_size=2)
    assert err.value.input_name == "page" and "1 to 3" in err.value.fix
    with pytest.raises(InvalidInput):
        worklist_page(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX), page=0)
    empty = worklist_page(
        con, session, people.manager, "P1", WorklistFilters(index_date=INDEX, rule_ids=frozenset({"nothing"}))
    )
    assert (empty.rows, empty.total, empty.pages, empty.first) == ([], 0, 1, 0)


def test_threshold_edges(con, session, people):
    """140 exactly is case-finding (">= 140") but not a care gap for a diagnosed patient ("> 140")."""
    con.execute("UPDATE events SET value = 140 WHERE patient_id = 102")
    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
    assert 102 not in _reasons(rows)
    assert "possible-hypertension" in _reasons(rows)[105]


def test_bp_exactly_twelve_months_ago_is_due(con, session, people):
    con.execute("UPDATE events SET date = DATE '2025-06-30' WHERE patient_id = 101")
    assert (
        "hyp-bp-review"
        in _reasons(worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX)))[101]
    )
    con.execute("UPDATE events SET date = DATE '2025-07-01' WHERE patient_id = 101 AND value IS NOT NULL")
    # Now the 150 mmHg reading is inside the window: no longer a recall, but a care gap.
    assert _reasons(worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX)))[101] == {
        "hyp-bp-uncontrolled"
    }


def test_other_practice_and_other_purposes_are_refused(con, session, people):
    with pytest.raises(AccessDenied):
        worklist(con, session, people.manager_p2, "P1", WorklistFilters(index_date=INDEX))
    with pytest.raises(AccessDenied):
        worklist(con, session, people.analyst, "icb:NCL", WorklistFilters(index_date=INDEX))
    # P2's own manager sees only P2's patient.
    rows = worklist(con, session, people.manager_p2, "P2", WorklistFilters(index_date=INDEX))
    assert _reasons(rows) == {107: {"hyp-bp-review"}}


def test_every_listed_patient_gets_an_audit_entry(con, session, people):
    rows = worklist(
        con, session, people.manager, "P1", WorklistFilters(index_date=INDEX, kinds=frozenset({ItemKind.CASE_FINDING}))
    )
    for r in rows:
        actions = [e.action for e in audit.entries_for_patient(session, r.patient_id)]
        assert actions == ["worklist.view"]
    assert audit.entries_for_patient(session, 101) == []  # not on the filtered list, not audited
    assert audit.verify(session).ok
    details = [e.detail for e in audit.entries(session)]
    assert all("Dan" not in d and "Eden" not in d for d in details)


def test_sources_add_items_but_only_for_allowed_patients(con, session, people):
    class RiskSource:
        def items(self, con_, population_table, practice_id, index_date):
            assert practice_id == "P1" and index_date == INDEX
            ids = [r[0] for r in con_.execute(f"SELECT patient_id FROM {population_table}").fetchall()]
            assert 107 not in ids
            yield WorklistItem(110, "efi-severe", ItemKind.CASE_FINDING, "Severe frailty (eFI)", "review", value=0.4)
            yield WorklistItem(107, "efi-severe", ItemKind.CASE_FINDING, "Severe frailty (eFI)", "review", value=0.5)

    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX), sources=[RiskSource()])
    reasons = _reasons(rows)
    assert reasons[110] == {"efi-severe"}
    assert 107 not in reasons


def test_recently_invited_patients_can_be_filtered_out(con, session, people):
    from carecommons.care.invitations import invite

    invite(con, session, people.manager, "P1", [101, 102], "bp-review", "sms", today=INDEX)
    rows = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
    invited = {r.patient_id for r in rows if r.last_invited is not None}
    assert invited == {101, 102}
    fresh = worklist(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX, not_invited_within_days=30))
    assert set(_reasons(fresh)) == set(EXPECTED) - {101, 102}


def test_csv_export_one_line_per_reason_defused_and_audited(con, session, people):
    text = export_csv(con, session, people.manager, "P1", WorklistFilters(index_date=INDEX))
    lines = list(csv.DictReader(io.StringIO(text)))
    assert tuple(lines[0].keys()) == CSV_COLUMNS
    assert len(lines) == sum(len(v) for v in EXPECTED.values())
    eve = next(line for line in lines if line["patient_id"] == "105")
    assert eve["given_name"] == "'=Eve"  # formula injection defused
    assert eve["last_value"] == "140.0" and eve["reason"].startswith("Possible undiagnosed hypertension")
    assert [e.action for e in audit.entries_for_patient(session, 105)] == ["worklist.export"]


def test_items_for_patient_and_season_start():
    assert season_start(dt.date(2026, 6, 30)) == dt.date(2025, 9, 1)
    assert season_start(dt.date(2026, 9, 1)) == dt.date(2026, 9, 1)


def test_items_for_one_patient(con):
    items = items_for_patient(con, 106, INDEX)
    assert {i.rule_id for i in items} == {"dm-hba1c-high", "flu-65"}
    assert all(dataclasses.is_dataclass(i) for i in items)
