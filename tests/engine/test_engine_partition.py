"""Patient-partitioned evaluation gives exactly the rows of the one unpartitioned query.

The plan is run over patient ranges (engine.partition) so every hash table holds one range's patients; these
tests check the union of the ranges' rows equals the whole-store query for one index date, for a time series
(series path and bucket path), with ranges of every size down to single patients, on sparse, unordered patient
ids, and through engine.run's results tables.
"""

from __future__ import annotations

import duckdb
import pytest
from engine_store import DATES, INDEX

from carecommons.core.dates import month_ends
from carecommons.core.errors import InvalidInput
from carecommons.engine import run, synthetic
from carecommons.engine.backends import duckdb_materialise, duckdb_rows
from carecommons.engine.compiler import compile_plan
from carecommons.engine.partition import (
    CHUNKS_ENV,
    choose_chunks,
    estimated_bytes,
    memory_limit,
    parse_size,
    patient_ranges,
)
from carecommons.engine.runner import practice_chains
from carecommons.store.analytics import create_tables

PATIENT_TABLES = ("patients", "registrations", "events", "medications", "vaccinations")


def _keyed(rows: list[dict]) -> dict[tuple[int, object], dict]:
    out = {(int(r["patient_id"]), r["index_date"]): r for r in rows}
    assert len(out) == len(rows), "a (patient, index date) came out twice"
    return out


def _both(con, library, dates, chunks: int, strategy: str = "auto") -> tuple[dict, dict]:
    plan = library.plan(practice_chains(con))
    whole = compile_plan(plan, library.codes(), dates, "duckdb", strategy=strategy)
    parts = compile_plan(plan, library.codes(), dates, "duckdb", strategy=strategy, partitioned=True)
    return _keyed(duckdb_rows(con, whole)), _keyed(duckdb_rows(con, parts, patient_ranges(con, chunks)))


@pytest.mark.parametrize("chunks", [2, 7])
def test_one_index_date_partitioned_equals_unpartitioned(store, library, chunks):
    whole, parts = _both(store, library, [INDEX], chunks)
    assert len(whole) > 400
    assert parts == whole


@pytest.mark.parametrize("strategy", ["auto", "buckets"])
def test_time_series_partitioned_equals_unpartitioned(store, library, strategy):
    whole, parts = _both(store, library, month_ends(INDEX, 24), 5, strategy)
    assert len({d for _p, d in whole}) == 24
    assert parts == whole


def test_single_patient_ranges_and_sparse_unordered_ids(library):
    """Ranges come from quantiles of the ids actually present, not from 1..N: scatter the ids and use more
    ranges than there are patients."""
    con = duckdb.connect(":memory:")
    create_tables(con)
    synthetic.generate(con, library, patients=60, events_per_patient=30, patients_per_practice=20)
    for t in PATIENT_TABLES:
        con.execute(f"UPDATE {t} SET patient_id = (patient_id * 1000003) % 2147483647")
    ranges = patient_ranges(con, 100)
    assert len(ranges) == 60  # one patient each: a cut never splits or repeats a patient
    whole, parts = _both(con, library, DATES, 100)
    assert parts == whole and len(whole) > 100


def test_patient_ranges_cover_every_patient_once(store):
    ids = [r[0] for r in store.execute("SELECT patient_id FROM patients ORDER BY 1").fetchall()]
    for chunks in (1, 3, 8):
        ranges = patient_ranges(store, chunks)
        assert len(ranges) == chunks
        assert ranges[0][0] == ids[0] and ranges[-1][1] == ids[-1]
        assert all(lo <= hi for lo, hi in ranges)
        assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # contiguous, no overlap
        sizes = [sum(lo <= i <= hi for i in ids) for lo, hi in ranges]
        assert max(sizes) - min(sizes) <= 1 + len(ids) // 100  # about equal in patients


def test_empty_store_gives_one_empty_range(library):
    con = duckdb.connect(":memory:")
    create_tables(con)
    assert patient_ranges(con, 4) == [(0, 0)]
    plan = library.plan([])
    compiled = compile_plan(plan, library.codes(), [INDEX], "duckdb", partitioned=True)
    assert duckdb_rows(con, compiled, patient_ranges(con, 4)) == []


def test_run_writes_the_same_results_partitioned(store, library):
    tables = {
        "results_population": "index_date, patient_id, practice_id, age, age_band, sex, ethnicity_6, imd_quintile",
        "results_patient": "definition_id, index_date, patient_id, practice_id, den, num, exc, value",
        "results_aggregate": "definition_id, index_date, level, org_id, breakdown, breakdown_value, "
        "denominator, numerator, exclusions",
    }

    def results(run_id: str) -> dict[str, list[tuple]]:
        return {
            t: store.execute(f"SELECT {cols} FROM {t} WHERE run_id = ? ORDER BY ALL", [run_id]).fetchall()
            for t, cols in tables.items()
        }

    one = results(run(store, library, DATES, progress=False, chunks=1).run_id)
    four = results(run(store, library, DATES, progress=False, chunks=4).run_id)
    assert len(one["results_patient"]) > 1000
    assert four == one


def test_materialise_appends_every_range_and_reports_progress(store, library):
    plan = library.plan(practice_chains(store))
    compiled = compile_plan(plan, library.codes(), [INDEX], "duckdb", partitioned=True)
    seen: list[tuple[int, int]] = []
    n = duckdb_materialise(store, compiled, "t_parts", patient_ranges(store, 3), lambda d, t: seen.append((d, t)))
    whole = duckdb_materialise(store, compile_plan(plan, library.codes(), [INDEX], "duckdb"), "t_whole")
    assert n == whole > 400
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert (
        store.execute("SELECT COUNT(*) FROM (SELECT * FROM t_parts EXCEPT ALL SELECT * FROM t_whole)").fetchone()[0]
        == 0
    )


def test_partitioned_plan_needs_ranges_and_a_whole_plan_refuses_them(store, library):
    plan = library.plan(practice_chains(store))
    parts = compile_plan(plan, library.codes(), [INDEX], "duckdb", partitioned=True)
    whole = compile_plan(plan, library.codes(), [INDEX], "duckdb")
    with pytest.raises(InvalidInput, match="none given"):
        duckdb_rows(store, parts)
    with pytest.raises(InvalidInput, match="without them"):
        duckdb_rows(store, whole, [(1, 10)])
    with pytest.raises(InvalidInput, match="compiled without"):
        whole.for_patients(1, 10)
    with pytest.raises(InvalidInput, match="empty"):
        parts.for_patients(10, 1)
    assert "BETWEEN 1 AND 10" in parts.for_patients(1, 10)


def test_chunk_count_follows_memory_and_dates_with_an_override(store, monkeypatch):
    monkeypatch.delenv(CHUNKS_ENV, raising=False)
    store.execute("SET memory_limit = '8GB'")
    assert choose_chunks(store) == 1  # a small store runs as one query
    store.execute("SET memory_limit = '1MB'")
    one, many = choose_chunks(store, 1), choose_chunks(store, 24)
    assert one >= 2 and many > one  # less memory, or more index dates, give more ranges
    assert one * memory_limit(store) * 0.25 >= estimated_bytes(store, 1)
    assert choose_chunks(store, 1, override=3) == 3
    monkeypatch.setenv(CHUNKS_ENV, "5")
    assert choose_chunks(store) == 5
    monkeypatch.setenv(CHUNKS_ENV, "lots")
    with pytest.raises(InvalidInput, match=CHUNKS_ENV):
        choose_chunks(store)
    with pytest.raises(InvalidInput, match="patient ranges"):
        choose_chunks(store, 1, override=0)


def test_parse_size_reads_duckdb_sizes():
    assert parse_size("11.1 GiB") == int(11.1 * 2**30)
    assert parse_size("12GB") == 12 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    with pytest.raises(InvalidInput, match="not a size"):
        parse_size("a lot")


def test_a_range_reads_only_its_row_groups_on_a_store_clustered_by_patient(library, tmp_path):
    """The point of ranges on a clustered store: a quarter of the patients reads about a quarter of the events'
    row groups (DuckDB zone maps on patient_id), not all of them."""
    import re

    from carecommons.engine.backends import duckdb_load_codes
    from carecommons.store.clustering import cluster_by_patient

    con = duckdb.connect(str(tmp_path / "clustered.duckdb"))
    create_tables(con)
    synthetic.generate(con, library, patients=8000, events_per_patient=93, patients_per_practice=2000)
    cluster_by_patient(con)
    con.execute("CHECKPOINT")
    plan = library.plan(practice_chains(con))
    parts = compile_plan(plan, library.codes(), [INDEX], "duckdb", partitioned=True)
    duckdb_load_codes(con, parts)
    lo, hi = patient_ranges(con, 4)[1]
    profile = con.execute("EXPLAIN ANALYZE " + parts.for_patients(lo, hi)).fetchall()[0][1]
    # The profile draws scans side by side, so read every "Row Groups Scanned: a / b"; the events scan is the
    # one over the table with the most row groups.
    scans = [(int(a), int(b)) for a, b in re.findall(r"Row Groups Scanned: (\d+) / (\d+)", profile)]
    biggest = max(total for _read, total in scans)
    events = [read for read, total in scans if total == biggest]
    assert biggest >= 6  # 744,000 events: enough row groups for the check to mean something
    assert events and all(read <= biggest // 4 + 2 for read in events), scans
