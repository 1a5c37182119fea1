"""The `carecommons risk` commands on a small file store: patient rows for direct care, counts otherwise."""

from __future__ import annotations

import duckdb
import pandas as pd
from typer.testing import CliRunner

from carecommons.cli.main import app
from carecommons.store.analytics import create_tables

runner = CliRunner()


def _store(path) -> None:
    con = duckdb.connect(str(path))
    create_tables(con)
    for pid, age in ((1, 80), (2, 70), (3, 40)):
        con.execute(
            "INSERT INTO patients (patient_id, date_of_birth, sex, practice_id, load_id) VALUES (?, ?, 'F', 'P1', 'L')",
            [pid, f"{2026 - age}-01-01"],
        )
        con.execute("INSERT INTO registrations VALUES (?, 'P1', DATE '2000-01-01', NULL, 'L')", [pid])
    con.close()


def test_direct_care_writes_patient_rows(tmp_path) -> None:
    db = tmp_path / "store.duckdb"
    _store(db)
    out = tmp_path / "efi.parquet"
    res = runner.invoke(
        app,
        ["risk", "run", "efi", "--index-date", "2026-03-31", "--purpose", "direct_care", "--out", str(out),
         "--store", str(db)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(out)
    assert sorted(frame["patient_id"]) == [1, 2] and set(frame["category"]) == {"fit"}


def test_planning_gets_practice_counts_only(tmp_path) -> None:
    db = tmp_path / "store.duckdb"
    _store(db)
    out = tmp_path / "q.csv"
    res = runner.invoke(
        app,
        ["risk", "run", "qrisk3", "--index-date", "2026-03-31", "--purpose", "planning", "--out", str(out),
         "--store", str(db)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert "patient_id" not in frame.columns and frame["patients"].sum() == 3


def test_errors_are_reported_not_raised(tmp_path) -> None:
    res = runner.invoke(
        app, ["risk", "run", "nonsense", "--index-date", "2026-03-31", "--purpose", "planning", "--out", "x.csv"]
    )
    assert res.exit_code == 2 and "not a known score" in res.output
    res = runner.invoke(app, ["risk", "qrisk3", "--sex", "F", "--age", "20"])
    assert res.exit_code == 2 and "age" in res.output


def test_single_qrisk3_calculation() -> None:
    res = runner.invoke(
        app,
        ["risk", "qrisk3", "--sex", "M", "--age", "75", "--bmi", "24.22", "--ethrisk", "1", "--rati", "4",
         "--sbp", "120", "--sbps5", "10", "--smoke-cat", "0", "--town", "0"],
    )  # fmt: skip
    assert res.exit_code == 0 and "24.6%" in res.output
