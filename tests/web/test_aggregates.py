"""Practice counts of the engine's results on hand-made patients, and the per-cohort cache (governance checks,
stale-while-revalidate)."""

from __future__ import annotations

import datetime as dt
import time

import duckdb
import pytest

from carecommons.core.errors import AccessDenied, NotFound
from carecommons.core.orgs import OrgLevel
from carecommons.definitions.library import load_library
from carecommons.engine import run
from carecommons.governance.optouts import set_patient_choice
from carecommons.governance.purposes import Purpose, Requester
from carecommons.reference.codelists import shipped
from carecommons.store.analytics import connect
from carecommons.store.operational import make_engine, make_sessionmaker
from carecommons.web.aggregates import AggregateCache, compute, practice_ids, restrict
from carecommons.web.opt_out_counts import TYPE1_DISSENT, count_opt_outs

IDX = dt.date(2026, 6, 30)
_P = "nhsd-primary-care-domain-refsets-"


def _code(codelist: str) -> str:
    return sorted(shipped(_P + codelist).codes)[0]


@pytest.fixture
def tiny(tmp_path):
    """Five patients at practice P1 whose status at 2026-06-30 is known by construction."""
    con = connect(tmp_path / "tiny.duckdb")
    con.execute("INSERT INTO practices VALUES ('P1','One','N1 1AA','PCN-1','PCN one','Barnet','NCL',5,0,0)")
    people = [  # id, dob, imd, ethnicity, death
        (1, "1950-01-01", 1, "White", None),  # registered, hypertension, BP recorded
        (2, "1990-01-01", 10, "Asian or Asian British", None),  # registered, nothing coded
        (3, "1940-01-01", 5, None, "2025-01-01"),  # died before the index date: out
        (4, "1960-01-01", 3, "White", None),  # Type 1 opt-out coded: out of the planning cohort
        (5, "1970-01-01", 3, "White", None),  # left the practice: out
    ]
    for pid, dob, imd, eth, death in people:
        con.execute(
            "INSERT INTO patients (patient_id, date_of_birth, sex, imd_decile, ethnicity_6, date_of_death, practice_id, load_id)"
            " VALUES (?, ?, 'F', ?, ?, ?, 'P1', 't')",
            [pid, dob, imd, eth, death],
        )
        end = "2026-01-01" if pid == 5 else None
        con.execute("INSERT INTO registrations VALUES (?, 'P1', '2010-01-01', ?, 't')", [pid, end])
    hyp, bp = _code("hyp_cod"), _code("bp_cod")
    events = [
        (1, hyp, "2026-03-15", None),
        (1, bp, "2026-05-01", 128.0),
        (3, hyp, "2020-01-01", None),
        (4, hyp, "2019-01-01", None),
        (4, TYPE1_DISSENT[0], "2024-01-01", None),
        (5, hyp, "2018-01-01", None),
    ]
    for pid, code, date, value in events:
        con.execute("INSERT INTO events VALUES (?, 'P1', ?, ?, ?, NULL, 't')", [pid, code, date, value])
    run(con, load_library(), [dt.date(2026, 5, 31), IDX], progress=False, definition_ids=["HYP_REG", "BP002"])
    con.execute("CREATE TEMP TABLE allowed AS SELECT patient_id FROM patients WHERE patient_id <> 4")
    yield con
    con.close()


def test_counts_on_hand_made_patients(tiny):
    a = compute(tiny, "allowed")
    assert a.index_date == IDX and a.index_dates == [dt.date(2026, 5, 31), IDX]
    assert set(a.definitions) == {"HYP_REG", "BP002"}
    assert a.definitions["HYP_REG"].kind == "register" and a.definitions["BP002"].kind == "indicator"
    now = a.population[a.population["index_date"] == IDX]
    assert int(now["denominator"].sum()) == 2  # patients 1 and 2: dead, left and opted-out patients are not
    hyp = a.counts[(a.counts["definition_id"] == "HYP_REG") & (a.counts["index_date"] == IDX)]
    assert int(hyp["numerator"].sum()) == 1  # patient 1; patient 4 is on the register but opted out
    everyone = compute(tiny)
    hyp_all = everyone.counts[(everyone.counts["definition_id"] == "HYP_REG") & (everyone.counts["index_date"] == IDX)]
    assert int(hyp_all["numerator"].sum()) == 2  # without the cohort the opted-out patient would count
    oo = count_opt_outs(tiny, IDX).iloc[0]  # the IG lead's figures count everyone registered, opted out or not
    assert (int(oo["opted_out"]), int(oo["registered"])) == (1, 3)  # 1, 2 and 4 are registered and alive
    imd = a.strata[(a.strata["grouping"] == "imd_quintile") & a.strata["definition_id"].isna()]
    assert dict(zip(imd["imd_quintile"], imd["denominator"], strict=True)) == {1: 1, 5: 1}


def test_no_engine_run_says_how_to_make_one(tmp_path):
    con = connect(tmp_path / "empty.duckdb")
    with pytest.raises(NotFound) as err:
        compute(con)
    con.close()
    assert "carecommons run" in err.value.fix


def _requester(user: str, org: str, purpose: Purpose = Purpose.PLANNING) -> Requester:
    return Requester(user_id=user, role="analyst", org_id=org, purpose=purpose)


def test_cache_checks_purpose_and_agreement_every_time(web_env):
    cache = AggregateCache(web_env.store)
    sessions = make_sessionmaker(make_engine(web_env.url))
    with pytest.raises(AccessDenied):
        cache.get(_requester("analyst.london", "london", Purpose.DIRECT_CARE), sessions)
    with pytest.raises(AccessDenied):
        cache.get(_requester("analyst.london", "no-such-org"), sessions)
    assert cache.get(_requester("analyst.london", "london"), sessions).population["denominator"].sum() > 0


def test_stale_entry_is_served_then_refreshed_and_opt_outs_take_effect(web_env):
    sessions = make_sessionmaker(make_engine(web_env.url))
    cache = AggregateCache(web_env.store, ttl_seconds=0.0)
    who = _requester("analyst.london", "london")
    first = cache.get(who, sessions)
    before = int(first.population["denominator"].sum())  # every index date: the patient counts at each
    pid = first_patient(web_env)
    with sessions() as s:
        set_patient_choice(s, pid, "ndop", True, "test")
    try:
        assert cache.get(who, sessions) is first  # stale value, no wait
        deadline = time.monotonic() + 60
        while (value := cache.get(who, sessions)) is first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert value is not first
        assert value.cohort != first.cohort  # the opt-out changes the fingerprint, so no shared page is reused
        n_dates = int((value.population.groupby("index_date")["denominator"].sum() > 0).sum())
        assert (
            int(value.population["denominator"].sum()) < before <= int(value.population["denominator"].sum()) + n_dates
        )
    finally:
        with sessions() as s:
            set_patient_choice(s, pid, "ndop", False, "test")


def first_patient(web_env) -> int:
    """A patient in the planning population: registered now, alive, no Type 1 code."""
    con = duckdb.connect(str(web_env.store), read_only=True)
    try:
        return con.execute(
            "SELECT r.patient_id FROM registrations r JOIN patients p USING (patient_id) WHERE r.end_date IS NULL "
            "AND p.date_of_death IS NULL AND r.patient_id NOT IN (SELECT patient_id FROM events WHERE code = ?) "
            "ORDER BY 1 LIMIT 1",
            [TYPE1_DISSENT[0]],
        ).fetchone()[0]
    finally:
        con.close()


def test_practices_outside_the_agreements_disappear(tiny):
    tiny.execute("INSERT INTO practices VALUES ('P2','Two','N1 1AB','PCN-1','PCN one','Barnet','NCL',5,0,0)")
    tiny.execute(
        "INSERT INTO patients (patient_id, date_of_birth, sex, practice_id, load_id) VALUES (9, '1980-01-01', 'M', 'P2', 't')"
    )
    tiny.execute("INSERT INTO registrations VALUES (9, 'P2', '2010-01-01', NULL, 't')")
    tiny.execute("INSERT INTO allowed VALUES (9)")
    run(tiny, load_library(), [IDX], progress=False, definition_ids=["HYP_REG"])
    a = compute(tiny, "allowed")
    assert set(a.population["practice_id"]) == {"P1", "P2"}
    only = restrict(a, ("P1",))
    for frame in (only.practices, only.population, only.counts, only.strata):
        assert set(frame["practice_id"]) == {"P1"}
    assert int(only.population["denominator"].sum()) == 2
    with pytest.raises(NotFound):
        practice_ids(only, OrgLevel.PRACTICE, "P2")


def test_missing_store_says_how_to_make_one(tmp_path, web_env):
    cache = AggregateCache(tmp_path / "none.duckdb")
    with pytest.raises(NotFound) as err:
        cache.get(_requester("analyst.london", "london"), make_sessionmaker(make_engine(web_env.url)))
    assert "carecommons demo" in err.value.fix


def test_refresh_of_an_unchanged_cohort_reuses_the_counts(web_env, monkeypatch):
    """A TTL refresh re-reads the allowed patients (so opt-outs still count) but not the engine's results when
    neither the store nor the cohort changed: at 1 M the counts cost many CPU seconds per cohort per worker."""
    from carecommons.web import aggregates

    sessions = make_sessionmaker(make_engine(web_env.url))
    cache = AggregateCache(web_env.store, ttl_seconds=0.0)
    who = _requester("analyst.london", "london")
    first = cache.get(who, sessions)
    counted = []
    real = aggregates.compute
    monkeypatch.setattr(aggregates, "compute", lambda con, table=None: counted.append(1) or real(con, table))
    key = next(iter(cache._entries))
    held = cache._entries[key]
    mtime, value, base = cache._compute(who, sessions, key[2], (held[1], held[2], held[3]))
    assert value is first and base == held[3] and counted == []  # nothing changed: no count
    pid = first_patient(web_env)
    with sessions() as s:
        set_patient_choice(s, pid, "ndop", True, "test")
    try:
        _mtime, changed, changed_base = cache._compute(who, sessions, key[2], (held[1], held[2], held[3]))
        assert counted == [1] and changed is not first and changed_base != base
        assert int(changed.population["denominator"].sum()) < int(first.population["denominator"].sum())
        # A held entry from another store file state is never reused either.
        _m, other, _b = cache._compute(who, sessions, key[2], (held[1] - 1.0, held[2], held[3]))
        assert counted == [1, 1] and other is not first
    finally:
        with sessions() as s:
            set_patient_choice(s, pid, "ndop", False, "test")
