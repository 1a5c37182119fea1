"""One patient's coded history, read once and tagged with codelists in Python (the record page's only scan)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from care_testdata import FLU_PRODUCT, HYP, INDEX, SYS

from carecommons.care.codes import codelist
from carecommons.care.patient_events import PatientEvents, lists_by_code, read_patient_events
from carecommons.care.record import _readings, _registers
from carecommons.care.worklists import items_for_patient

_HYP_LIST = "nhsd-primary-care-domain-refsets-hyp_cod"
_SYS_LIST = "opensafely-systolic-blood-pressure-qof"


def test_reads_only_that_patient_from_events_and_vaccinations(con):
    ev = read_patient_events(con, 104)
    assert ev.patient_id == 104
    assert sorted((r.source, r.date) for r in ev.rows) == [
        ("events", dt.date(2015, 1, 1)),
        ("events", dt.date(2018, 1, 1)),
        ("events", dt.date(2026, 2, 1)),
    ]
    vac = read_patient_events(con, 110)
    assert [(r.source, r.code, r.value) for r in vac.rows] == [("vaccinations", FLU_PRODUCT, None)]
    assert read_patient_events(con, 999).rows == ()


def test_tagging_matches_the_codelists_and_repeats_a_row_in_two_lists(con):
    ev = read_patient_events(con, 101)
    tagged = ev.tagged([_HYP_LIST, _SYS_LIST])
    assert sorted((list_id, row.code) for list_id, row in tagged) == sorted([(_HYP_LIST, HYP), (_SYS_LIST, SYS)])
    assert ev.tagged(["nhsd-primary-care-domain-refsets-dm_cod"]) == []
    # A code in two lists (systolic BP is also a BP code) is tagged once per list, as a join to a
    # (list_id, code) table would give; naming a list twice does not double it.
    bp_list = "nhsd-primary-care-domain-refsets-bp_cod"
    shared = sorted(set(codelist(_SYS_LIST).codes) & set(codelist(bp_list).codes))[0]
    assert lists_by_code(frozenset({_SYS_LIST, bp_list}))[shared] == tuple(sorted((_SYS_LIST, bp_list)))
    one = PatientEvents(101, (dataclasses.replace(ev.rows[0], code=shared),))
    assert sorted(list_id for list_id, _ in one.tagged([_SYS_LIST, bp_list, _SYS_LIST])) == sorted([_SYS_LIST, bp_list])


def test_record_sections_respect_the_index_date(con):
    ev = read_patient_events(con, 104)
    # HYP 2015, resolved 2018: off the register on the index date, on it before the resolution.
    assert _registers(ev, INDEX) == []
    assert [r.label for r in _registers(ev, dt.date(2017, 1, 1))] == ["Hypertension"]
    assert [(r.date, r.value) for r in _readings(ev, INDEX)["Systolic blood pressure"]] == [
        (dt.date(2026, 2, 1), 150.0)
    ]
    assert _readings(ev, dt.date(2026, 1, 1)) == {}


def test_care_gaps_from_events_already_read_equal_a_fresh_read(con):
    for pid in (101, 102, 104, 105, 106, 110):
        fresh = items_for_patient(con, pid, INDEX)
        reused = items_for_patient(con, pid, INDEX, events=read_patient_events(con, pid))
        assert fresh == reused
    # Events of another patient are never used for this one: the patient is read afresh.
    assert items_for_patient(con, 101, INDEX, events=read_patient_events(con, 106)) == items_for_patient(
        con, 101, INDEX
    )
    assert {i.rule_id for i in items_for_patient(con, 101, INDEX)} == {"hyp-bp-review"}
