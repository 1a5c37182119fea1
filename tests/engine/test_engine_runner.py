"""`engine.run` end to end on a small store: results equal the reference evaluator, are versioned, and the
aggregates add up at every level."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_store import DATES, INDEX, python_tables

from carecommons.core.errors import InvalidInput
from carecommons.definitions.library import load_library
from carecommons.definitions.reference import evaluate
from carecommons.engine import run
from carecommons.engine.runner import practice_chains


def test_patient_results_equal_the_reference_evaluator(store, library):
    summary = run(store, library, [INDEX], progress=False)
    plan = library.plan(practice_chains(store))
    expected = evaluate(python_tables(store), library.codes(), plan, [INDEX])
    assert summary.population_rows == len(expected) > 400
    kinds = {p.definition_id: p.kind.value for p in plan}
    want = set()
    for row in expected:
        for def_id, kind in kinds.items():
            c = def_id.lower()
            keep = row[f"{c}_num"] == 1 if kind == "register" else (row[f"{c}_den"] or row[f"{c}_num"])
            if keep:
                want.add(
                    (def_id, row["patient_id"], bool(row[f"{c}_den"]), bool(row[f"{c}_num"]), bool(row[f"{c}_exc"]))
                )
    got = set(
        store.execute(
            "SELECT definition_id, patient_id, den, num, exc FROM results_patient WHERE run_id = ?", [summary.run_id]
        ).fetchall()
    )
    assert got == want
    assert {r[0] for r in got} >= {"HYP_REG", "HYP008", "BP002", "FLU65"}  # the store exercises the library


def test_rerun_of_the_same_snapshot_replaces_rows(store, library):
    first = run(store, library, [INDEX], progress=False)
    second = run(store, library, [INDEX], progress=False)
    assert first.snapshot_id == second.snapshot_id
    runs = {r[0] for r in store.execute("SELECT DISTINCT run_id FROM results_patient").fetchall()}
    assert runs == {second.run_id}
    assert store.execute("SELECT COUNT(*) FROM results_patient").fetchone()[0] == second.patient_rows
    versions = {r[0] for r in store.execute("SELECT DISTINCT definition_version FROM results_patient").fetchall()}
    assert versions == {"2024.25.1"}


def test_new_data_gives_a_new_snapshot_and_keeps_old_results(store, library):
    first = run(store, library, [INDEX], progress=False)
    store.execute(
        "INSERT INTO events SELECT patient_id, practice_id, code, date, value, unit, 'extra' FROM events LIMIT 5"
    )
    second = run(store, library, [INDEX], progress=False)
    assert first.snapshot_id != second.snapshot_id
    snaps = {r[0] for r in store.execute("SELECT DISTINCT snapshot_id FROM results_patient").fetchall()}
    assert snaps == {first.snapshot_id, second.snapshot_id}


def test_time_series_and_aggregates_add_up(store, library):
    summary = run(store, library, DATES, definition_ids=["HYP_REG", "HYP008", "FLU65"], progress=False)
    pop = dict(store.execute("SELECT index_date, COUNT(*) FROM results_population GROUP BY 1").fetchall())
    assert set(pop) == set(DATES)
    agg = store.execute(
        """SELECT definition_id, index_date, level, breakdown, SUM(denominator), SUM(numerator), SUM(exclusions)
        FROM results_aggregate WHERE run_id = ? GROUP BY ALL""",
        [summary.run_id],
    ).fetchall()
    totals: dict[tuple, dict] = {}
    for def_id, date, level, breakdown, den, num, exc in agg:
        totals.setdefault((def_id, date), {})[(level, breakdown)] = (den, num, exc)
    for (def_id, date), cells in totals.items():
        london = cells[("london", None)]
        for level in ("practice_id", "pcn_id", "borough", "icb"):
            assert cells[(level, None)] == london, (def_id, level)
        for b in ("age_band", "sex", "ethnicity_6", "imd_quintile"):
            assert cells[("london", b)] == london, (def_id, b)
        n_num = store.execute(
            "SELECT COUNT(*) FROM results_patient WHERE run_id = ? AND definition_id = ? AND index_date = ? AND num",
            [summary.run_id, def_id, date],
        ).fetchone()[0]
        assert london[1] == n_num
        if def_id == "HYP_REG":
            assert london[0] == pop[date]  # a register's denominator is the registered population


def test_local_override_changes_only_its_practice(store, tmp_path: Path):
    practice = store.execute("SELECT practice_id FROM practices ORDER BY 1 LIMIT 1").fetchone()[0]
    (tmp_path / "practice").mkdir()
    (tmp_path / "practice" / f"{practice}.toml").write_text(
        '[parameters.BP002]\nmin_age = 0\nreason = "whole list case-finding"\n', encoding="utf-8"
    )
    local = load_library([tmp_path])
    summary = run(store, local, [INDEX], definition_ids=["BP002"], progress=False)
    young = store.execute(
        """SELECT r.practice_id, COUNT(*) FROM results_patient r JOIN results_population p USING (patient_id, index_date)
        WHERE r.run_id = ? AND r.den AND p.age < 45 GROUP BY 1""",
        [summary.run_id],
    ).fetchall()
    assert [p for p, _n in young] == [practice]


def test_run_rejects_bad_arguments(store, library):
    with pytest.raises(InvalidInput):
        run(store, library, [], progress=False)
    with pytest.raises(InvalidInput):
        run(store, library, [INDEX], backend="oracle", progress=False)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_backend_writes_the_same_results(store, library):
    ids = ["HYP_REG", "HYP008", "AF008", "FLU65"]
    query = "SELECT definition_id, patient_id, den, num, exc, value FROM results_patient WHERE run_id = ? ORDER BY ALL"
    duck = run(store, library, [INDEX], definition_ids=ids, progress=False)
    duck_rows = store.execute(query, [duck.run_id]).fetchall()
    spark = run(store, library, [INDEX], backend="spark", definition_ids=ids, progress=False)
    assert spark.backend == "spark"
    assert store.execute(query, [spark.run_id]).fetchall() == duck_rows
