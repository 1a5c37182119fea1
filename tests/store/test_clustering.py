"""Store clustering: patient-keyed tables rewritten in patient order, atomically, only when worth it."""

from __future__ import annotations

import duckdb
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.store.analytics import connect
from carecommons.store.clustering import PATIENT_TABLES, cluster_by_patient, unclustered_rows


def _append_events(con: duckdb.DuckDBPyConnection, load_id: str, n: int, seed: int) -> None:
    """n events whose patient ids are hashes (as ingest makes them), so insertion order is not patient order."""
    con.execute(
        "INSERT INTO events SELECT (hash(i + ?) >> 40)::BIGINT, 'P1', '38341003', DATE '2020-01-01' + (i % 900)::INT, "
        "CASE WHEN i % 2 = 0 THEN i::DOUBLE END, NULL, ? FROM range(?) t(i)",
        [seed, load_id, n],
    )


def _content(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _in_patient_order(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    ids = [r[0] for r in con.execute(f"SELECT patient_id FROM {table}").fetchall()]
    return ids == sorted(ids)


@pytest.fixture
def store(tmp_path):
    con = connect(tmp_path / "store.duckdb")
    yield con
    con.close()


def test_rewrite_keeps_every_row_and_puts_them_in_patient_order(store):
    _append_events(store, "L1", 5000, 1)
    _append_events(store, "L2", 3000, 2)
    before = _content(store, "events")
    assert not _in_patient_order(store, "events")

    report = {t.table: t for t in cluster_by_patient(store)}

    assert report["events"].rewritten and report["events"].rows == 8000
    assert not report["medications"].rewritten  # empty tables are left alone
    assert _content(store, "events") == before
    assert _in_patient_order(store, "events")
    assert unclustered_rows(store, "events") == (0, 8000)


def test_small_delta_waits_for_the_threshold_and_a_large_one_does_not(store):
    _append_events(store, "L1", 10_000, 1)
    cluster_by_patient(store, tables=["events"])
    _append_events(store, "L2", 500, 3)
    assert unclustered_rows(store, "events") == (500, 10_500)

    (small,) = cluster_by_patient(store, tables=["events"], threshold=0.1)
    assert not small.rewritten and small.unclustered_rows == 500

    _append_events(store, "L3", 2000, 4)
    (large,) = cluster_by_patient(store, tables=["events"], threshold=0.1)
    assert large.rewritten and large.rows == 12_500
    assert _in_patient_order(store, "events")


def test_one_patient_read_touches_one_row_group_after_clustering(store):
    # 400 k rows = 4 DuckDB row groups (122,880 rows each): before, every group holds some of every patient.
    _append_events(store, "L1", 400_000, 5)
    pid = store.execute("SELECT patient_id FROM events LIMIT 1").fetchone()[0]

    def groups_scanned() -> str:
        plan = store.execute("EXPLAIN ANALYZE SELECT * FROM events WHERE patient_id = ?", [pid]).fetchall()[0][1]
        line = next(x for x in plan.splitlines() if "Row Groups Scanned" in x)
        return line.split(":")[1].strip(" │")

    store.execute("CHECKPOINT")
    assert groups_scanned().startswith("4 /")
    cluster_by_patient(store, tables=["events"])
    store.execute("CHECKPOINT")
    assert groups_scanned().startswith("1 /")


def test_failed_rewrite_leaves_the_table_and_its_record_as_they_were(store, monkeypatch):
    _append_events(store, "L1", 3000, 6)
    before = _content(store, "events")
    from carecommons.store import clustering

    real = store.execute

    class Boom(Exception):
        pass

    class Flaky:
        """A connection that fails just after the old table is dropped, the worst moment to crash."""

        def execute(self, sql, *args):
            if sql.startswith("ALTER TABLE events__clustering RENAME"):
                raise Boom("disk full")
            return real(sql, *args)

    with pytest.raises(Boom):
        clustering._rewrite(Flaky(), "events")
    assert _content(store, "events") == before
    assert unclustered_rows(store, "events") == (3000, 3000)
    assert "events__clustering" not in {r[0] for r in store.execute("SHOW TABLES").fetchall()}


def test_unknown_table_and_bad_threshold_are_refused_with_a_fix(store):
    with pytest.raises(InvalidInput, match="patient-keyed"):
        cluster_by_patient(store, tables=["practices"])
    with pytest.raises(InvalidInput, match="share"):
        cluster_by_patient(store, threshold=1.5)
    assert set(PATIENT_TABLES) <= {r[0] for r in store.execute("SHOW TABLES").fetchall()}
