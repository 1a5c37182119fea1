from __future__ import annotations

import pytest

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.core.nhs_number import is_valid
from carecommons.identity.evaluation import evaluate_against_truth
from carecommons.identity.linkage import run_linkage
from carecommons.identity.person_index import person_for_record, records_for_person


def test_every_record_has_exactly_one_index_row(linked):
    fx, result = linked
    con = fx.con
    n_feed = fx.social_care.num_rows + fx.hospital.num_rows
    assert con.execute("SELECT count(*) FROM person_index WHERE feed <> 'gp'").fetchall()[0][0] == n_feed
    assert con.execute("SELECT count(*) FROM person_index WHERE feed = 'gp'").fetchall()[0][0] == fx.gp.num_rows
    assert con.execute("SELECT count(*) - count(DISTINCT (feed, record_id)) FROM person_index").fetchall()[0][0] == 0
    assert sum(sum(m.values()) for m in result.counts.values()) == n_feed + fx.gp.num_rows


def test_deterministic_step_links_exactly_valid_agreeing_nhs_numbers(linked):
    fx, _ = linked
    gp_by_nhs = {}
    for r in fx.gp.to_pylist():
        gp_by_nhs.setdefault(r["nhs_number"], []).append(r)
    expected = {}
    for feed, table in (("social_care", fx.social_care), ("hospital", fx.hospital)):
        for r in table.to_pylist():
            cands = [g for g in gp_by_nhs.get(r["nhs_number"], []) if g["date_of_birth"] == r["date_of_birth"]]
            if r["nhs_number"] and is_valid(r["nhs_number"]) and cands:
                expected[(feed, r["record_id"])] = min(g["patient_id"] for g in cands)
    got = {
        (feed, rid): pid
        for feed, rid, pid in fx.con.execute(
            "SELECT feed, record_id, patient_id FROM person_index WHERE method = 'nhs_number'"
        ).fetchall()
    }
    assert len(expected) > 500
    assert got == expected


def test_someone_elses_valid_nhs_number_does_not_link_by_nhs(linked):
    fx, _ = linked
    entry = person_for_record(fx.con, "SC-WRONGNHS", "social_care")
    assert entry.method == "probabilistic"
    assert entry.patient_id == 11


def test_the_same_record_id_in_two_feeds_stays_two_records(linked):
    fx, _ = linked
    hospital = person_for_record(fx.con, "SC-WRONGNHS", "hospital")
    assert hospital.method == "nhs_number" and hospital.patient_id == 11
    with pytest.raises(InvalidInput, match="more than one feed"):
        person_for_record(fx.con, "SC-WRONGNHS")


def test_gp_duplicate_registrations_are_one_person(linked):
    fx, _ = linked
    first = person_for_record(fx.con, "21", "gp")
    dup = person_for_record(fx.con, "900001", "gp")
    assert first.person_id == dup.person_id == 21
    records = records_for_person(fx.con, 21)
    assert [r.feed for r in records][:2] == ["gp", "gp"]
    assert {r.record_id for r in records} >= {"21", "900001"}


def test_person_without_gp_record_is_unlinked_with_its_own_negative_id(linked):
    fx, _ = linked
    entry = person_for_record(fx.con, "SC-NOGP")
    assert entry.method == "unlinked" and entry.patient_id is None and entry.person_id < 0
    negatives = fx.con.execute(
        "SELECT count(*), count(DISTINCT person_id) FROM person_index WHERE method = 'unlinked'"
    ).fetchall()[0]
    assert negatives[0] == negatives[1]


def test_linkage_quality_against_truth(linked):
    """F1 >= 0.98 on a deliberately hard feed (35% missing NHS numbers, 5% wrong, 8% typos per name,
    10% moved house, 3% not GP-registered). Deterministic matching alone reaches recall ~0.6 here, so the
    bar can only be met if the probabilistic step works; the margin below the 0.99 London target allows
    for the small fixture, where one error moves F1 by 0.0005 and EM has few pairs to learn from."""
    fx, _ = linked
    metrics = evaluate_against_truth(fx.con, fx.truth)
    deterministic_recall = metrics.by_method["nhs_number"]["tp"] / (metrics.true_positives + metrics.false_negatives)
    assert deterministic_recall < 0.7
    assert metrics.precision >= 0.99
    assert metrics.f1 >= 0.98


def test_rerun_replaces_the_index_and_keeps_run_history(make_store):
    fx = make_store()
    first = run_linkage(fx.con)
    rows_first = fx.con.execute("SELECT feed, record_id, patient_id, method FROM person_index ORDER BY ALL").fetchall()
    second = run_linkage(fx.con)
    rows_second = fx.con.execute("SELECT feed, record_id, patient_id, method FROM person_index ORDER BY ALL").fetchall()
    assert first.run_id != second.run_id
    assert rows_first == rows_second  # seeded training: same links
    assert {r[0] for r in fx.con.execute("SELECT DISTINCT run_id FROM person_index").fetchall()} == {second.run_id}
    runs = fx.con.execute("SELECT run_id, summary_json FROM linkage_runs ORDER BY started_at").fetchall()
    assert [r[0] for r in runs] == [first.run_id, second.run_id]
    assert '"probabilistic"' in runs[1][1]


def test_bad_backend_and_threshold_are_clear_errors(linked):
    fx, _ = linked
    with pytest.raises(InvalidInput, match="backend"):
        run_linkage(fx.con, backend="oracle")
    with pytest.raises(InvalidInput, match="threshold"):
        run_linkage(fx.con, threshold=0.2)


def test_unknown_record_is_not_found(linked):
    fx, _ = linked
    with pytest.raises(NotFound):
        person_for_record(fx.con, "NO-SUCH-RECORD")


def test_store_without_feeds_or_without_gp_links_what_it_can(tmp_path):
    from carecommons.identity.noise import gp_population, load_into_store, noisy_feed
    from carecommons.store.analytics import connect

    gp = gp_population(50, 1)
    only_gp = connect(tmp_path / "gp.duckdb")
    load_into_store(only_gp, gp)
    result = run_linkage(only_gp)
    assert result.counts == {"gp": {"gp_record": 50}}
    assert result.model_json == {}

    records, _ = noisy_feed(gp, 20, "social_care", 2)
    only_feed = connect(tmp_path / "feed.duckdb")
    load_into_store(only_feed, gp.slice(0, 0), records)
    result = run_linkage(only_feed)
    assert result.counts == {"social_care": {"unlinked": 20}}
    with pytest.raises(NotFound, match="model"):
        from carecommons.identity.linkage import latest_model

        latest_model(only_feed)
