"""The `carecommons synth` command (mounted on a local Typer app so the test needs only this layer)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from carecommons.cli.synth_cmd import synth_command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("synth")(synth_command)
    app.command("noop")(lambda: None)  # two commands so Typer keeps the sub-command name
    return app


def test_cli_writes_extracts_and_reports(tmp_path):
    out = tmp_path / "src"
    result = CliRunner().invoke(
        _app(), ["synth", "--patients", "1000", "--seed", "9", "--out", str(out), "--format", "csv",
                 "--extract-date", "2026-11-01", "--faults", "invalid-nhs"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "reference" / "practices.csv").exists()
    assert any(out.glob("gp/*/2026-11-01/csv/patients.csv"))
    assert "patients" in result.output


def test_cli_rejects_bad_arguments_with_a_fix(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(_app(), ["synth", "--patients", "0", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "Fix:" in bad.output
    bad = runner.invoke(_app(), ["synth", "--patients", "1000", "--faults", "nope", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "nope" in bad.output
    assert not any(tmp_path.glob("gp/*"))
