from __future__ import annotations

import json

import pytest

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.identity.explain import explain_pair, explain_record, save_waterfall_chart


def _probabilistic_records(con, n=3):
    return con.execute(
        "SELECT record_id, match_weight FROM person_index WHERE method = 'probabilistic' ORDER BY match_weight LIMIT $1",
        [n],
    ).fetchall()


def test_weights_sum_to_the_stored_match_weight(linked):
    fx, _ = linked
    rows = _probabilistic_records(fx.con)
    assert rows
    for record_id, stored_weight in rows:
        e = explain_record(fx.con, record_id)
        assert e.method == "probabilistic"
        assert [c.comparison for c in e.comparisons] == [
            "given_name",
            "family_name",
            "dob",
            "postcode",
            "sex",
            "nhs_number",
        ]
        assert e.total_of_terms == pytest.approx(e.match_weight, abs=1e-9)
        assert e.match_weight == pytest.approx(stored_weight, abs=1e-9)
        for c in e.comparisons:
            if c.m_probability and c.u_probability:
                assert c.bayes_factor == pytest.approx(c.m_probability / c.u_probability, rel=1e-6)


def test_exact_agreement_weighs_more_than_disagreement(linked):
    fx, _ = linked
    record_id, _ = _probabilistic_records(fx.con, 1)[0]
    entry_pid = fx.con.execute("SELECT patient_id FROM person_index WHERE record_id = $1", [record_id]).fetchall()[0][0]
    linked_pair = explain_pair(
        fx.con, entry_pid, "social_care" if record_id.startswith("SO") else "hospital", record_id
    )
    # the same record against some other GP patient born on another day scores far lower
    other = 1 if entry_pid != 1 else 2
    unrelated = explain_pair(fx.con, other, "social_care" if record_id.startswith("SO") else "hospital", record_id)
    assert unrelated.match_weight < linked_pair.match_weight
    assert unrelated.total_of_terms == pytest.approx(unrelated.match_weight, abs=1e-9)


def test_explanations_carry_no_patient_values(linked, tmp_path):
    fx, _ = linked
    record_id, _ = _probabilistic_records(fx.con, 1)[0]
    e = explain_record(fx.con, record_id)
    row = fx.con.execute(
        "SELECT given_name, family_name, CAST(date_of_birth AS VARCHAR), postcode FROM social_care_records "
        "WHERE record_id = $1 UNION ALL SELECT given_name, family_name, CAST(date_of_birth AS VARCHAR), postcode "
        "FROM hospital_records WHERE record_id = $1",
        [record_id],
    ).fetchall()[0]
    text = json.dumps([e.comparisons, list(e.waterfall_records)], default=str).upper()
    for value in row:
        if value:
            assert value.upper() not in text
    html = save_waterfall_chart(e, tmp_path / "waterfall.html").read_text()
    svg = save_waterfall_chart(e, tmp_path / "waterfall.svg").read_text()
    assert "<svg" in svg and "given_name" in svg
    assert "vega" in html.lower()
    for value in row:
        if value and len(value) > 3:
            assert value not in svg


def test_explain_refuses_gp_and_unlinked_records(linked, tmp_path):
    fx, _ = linked
    with pytest.raises(InvalidInput, match="GP record"):
        explain_record(fx.con, "1", "gp")
    with pytest.raises(NotFound, match="not linked"):
        explain_record(fx.con, "SC-NOGP")
    with pytest.raises(InvalidInput):
        save_waterfall_chart(explain_record(fx.con, _probabilistic_records(fx.con, 1)[0][0]), tmp_path / "w.txt")
