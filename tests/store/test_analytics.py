"""The analytics store: tables created on open, read-only opens, a clear error when locked, Parquet export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from carecommons.core.errors import ConfigurationError, InvalidInput
from carecommons.core.schema import ALL_TABLES
from carecommons.store.analytics import connect, export_parquet, table_counts


def test_connect_creates_every_canonical_table(tmp_path: Path):
    con = connect(tmp_path / "deep" / "store.duckdb")
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {t.name for t in ALL_TABLES} <= names
    assert table_counts(con) == {t.name: 0 for t in ALL_TABLES}
    con.close()


def test_read_only_open_of_missing_store_says_what_to_do(tmp_path: Path):
    with pytest.raises(ConfigurationError) as err:
        connect(tmp_path / "none.duckdb", read_only=True)
    assert "ingest" in err.value.fix


def test_read_only_open_sees_data_and_cannot_write(tmp_path: Path):
    path = tmp_path / "s.duckdb"
    con = connect(path)
    con.execute("INSERT INTO practices (practice_id, pcn_id, borough, icb) VALUES ('E83003', 'P1', 'Barnet', 'NCL')")
    con.close()
    ro = connect(path, read_only=True)
    assert ro.execute("SELECT count(*) FROM practices").fetchone()[0] == 1
    with pytest.raises(duckdb.Error):
        ro.execute("DELETE FROM practices")
    ro.close()


def test_store_locked_by_another_process_is_a_configuration_error(tmp_path: Path):
    path = tmp_path / "s.duckdb"
    connect(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(ConfigurationError) as err:
            connect(path)
        assert "another process" in err.value.problem
    finally:
        holder.kill()
        holder.wait()


def test_export_parquet_round_trips(tmp_path: Path):
    con = connect(tmp_path / "s.duckdb")
    con.execute(
        "INSERT INTO practices (practice_id, pcn_id, borough, icb, list_size) VALUES ('E2', 'P', 'B', 'NCL', 5), ('E1', 'P', 'B', 'SEL', 7)"
    )
    written = export_parquet(con, tmp_path / "pq", ["practices"])
    assert written == [tmp_path / "pq" / "practices.parquet"]
    back = duckdb.connect().execute(f"SELECT practice_id, list_size FROM '{written[0]}'").fetchall()
    assert back == [("E1", 7), ("E2", 5)]
    with pytest.raises(InvalidInput):
        export_parquet(con, tmp_path / "pq", ["nope"])
    con.close()


def test_memory_limit_defaults_to_half_the_machine_and_can_be_set(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CARECOMMONS_DUCKDB_MEMORY", raising=False)
    con = connect(tmp_path / "s.duckdb")
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.close()
    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    value, unit = limit.split()
    assert unit == "GiB" and abs(float(value) - total_gib / 2) < 0.2, limit
    monkeypatch.setenv("CARECOMMONS_DUCKDB_MEMORY", "300MiB")
    con = connect(tmp_path / "s.duckdb", read_only=True)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "300.0 MiB"
    con.close()
    monkeypatch.setenv("CARECOMMONS_DUCKDB_MEMORY", "lots")
    with pytest.raises(InvalidInput, match="CARECOMMONS_DUCKDB_MEMORY"):
        connect(tmp_path / "s.duckdb")
