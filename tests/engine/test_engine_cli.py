"""The `carecommons run` and `carecommons definitions` commands on a small store file."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from carecommons.cli.main import app
from carecommons.engine import synthetic
from carecommons.store.analytics import create_tables

runner = CliRunner()


@pytest.fixture(scope="module")
def store_file(tmp_path_factory, library):
    path = tmp_path_factory.mktemp("store") / "store.duckdb"
    con = duckdb.connect(str(path))
    create_tables(con)
    synthetic.generate(con, library, patients=300, events_per_patient=20, patients_per_practice=100)
    con.close()
    return path


def test_list_and_show(tmp_path, monkeypatch):
    monkeypatch.setenv("CARECOMMONS_HOME", str(tmp_path))
    listed = runner.invoke(app, ["definitions", "list"])
    assert listed.exit_code == 0 and "HYP008" in listed.output and "FLU65" in listed.output
    shown = runner.invoke(app, ["definitions", "show", "HYP008"])
    assert shown.exit_code == 0
    assert "systolic_max" in shown.output and "{systolic_max}" in shown.output
    missing = runner.invoke(app, ["definitions", "show", "NOPE"])
    assert missing.exit_code == 2 and "no such definition" in missing.output


def test_explain_shows_the_finest_layer_and_the_history(tmp_path, monkeypatch, store_file):
    monkeypatch.setenv("CARECOMMONS_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    con = duckdb.connect(str(store_file), read_only=True)
    practice, icb = con.execute("SELECT practice_id, icb FROM practices ORDER BY 1 LIMIT 1").fetchone()
    con.close()
    (tmp_path / "overrides" / "icb").mkdir(parents=True)
    (tmp_path / "overrides" / "practice").mkdir(parents=True)
    (tmp_path / "overrides" / "icb" / f"{icb}.toml").write_text("[parameters.BP002]\nmin_age = 40\n")
    (tmp_path / "overrides" / "practice" / f"{practice}.toml").write_text(
        '[parameters.BP002]\nmin_age = 35\nreason = "pilot"\n'
    )
    out = runner.invoke(app, ["definitions", "explain", "BP002", "--org", practice, "--store", str(store_file)])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if "min_age" in x)
    assert "35" in line and f"Practice {practice}" in line and "pilot" in line
    assert f"London library default: 45; ICS {icb} ({icb}.toml): 40; Practice {practice}" in line  # coarse to fine
    window = next(x for x in out.output.splitlines() if "window_months" in x)
    assert "London library default" in window


def test_run_writes_a_versioned_time_series(tmp_path, monkeypatch, store_file):
    monkeypatch.setenv("CARECOMMONS_HOME", str(tmp_path))
    out = runner.invoke(
        app,
        ["run", "--store", str(store_file), "--index-date", "2025-03-31", "--months", "2", "--definition", "HYP_REG"],
    )
    assert out.exit_code == 0, out.output
    con = duckdb.connect(str(store_file), read_only=True)
    dates = con.execute("SELECT DISTINCT index_date FROM results_population ORDER BY 1").fetchall()
    assert [str(d[0]) for d in dates] == ["2025-02-28", "2025-03-31"]
    assert con.execute("SELECT COUNT(*) FROM results_runs").fetchone()[0] == 1
    con.close()
    bad = runner.invoke(app, ["run", "--store", str(store_file), "--index-date", "31/03/2025"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_run_chunks_option_gives_the_same_results_and_refuses_zero(tmp_path, monkeypatch, store_file):
    import shutil

    monkeypatch.setenv("CARECOMMONS_HOME", str(tmp_path))
    rows = {}
    for n in (1, 3):
        copy = tmp_path / f"chunks{n}.duckdb"
        shutil.copy(store_file, copy)
        args = ["run", "--store", str(copy), "--index-date", "2025-03-31", "--chunks", str(n)]
        out = runner.invoke(app, [*args, "--definition", "HYP_REG", "--definition", "BP002"])
        assert out.exit_code == 0, out.output
        con = duckdb.connect(str(copy), read_only=True)
        rows[n] = con.execute(
            "SELECT * EXCLUDE (run_id) FROM results_patient WHERE run_id = "
            "(SELECT run_id FROM results_runs ORDER BY finished_at DESC LIMIT 1) ORDER BY ALL"
        ).fetchall()
        con.close()
    assert rows[1] and rows[1] == rows[3]
    zero = runner.invoke(app, ["run", "--store", str(store_file), "--chunks", "0"])
    assert zero.exit_code == 2 and "--chunks" in zero.output
