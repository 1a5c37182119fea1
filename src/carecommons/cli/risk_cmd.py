"""`carecommons risk ...`: risk scores and case finding over the record store, and a one-person QRISK3 calculator.

Patient-level results are written only for direct care (and never printed); for planning or research the command
writes per-practice counts instead, so the CLI cannot be used to take patient rows out under a secondary purpose.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from carecommons.core.errors import CarecommonsError, InvalidInput

risk_app = typer.Typer(help="Risk scores (eFI, QRISK3, CHA2DS2-VASc, ORBIT) and case finding.", no_args_is_help=True)

SCORES = ("efi", "qrisk3", "cha2ds2-vasc", "orbit", "case-finding")
_SUMMARY_COLUMN = {"efi": "category", "qrisk3": None, "cha2ds2-vasc": "score", "orbit": "category"}


def _compute(score: str, con, index_date):
    from carecommons.risk import af, case_finding, efi, qrisk

    runners = {
        "efi": efi.frailty,
        "qrisk3": qrisk.qrisk3_for_store,
        "cha2ds2-vasc": af.cha2ds2_vasc,
        "orbit": af.orbit,
        "case-finding": case_finding.find,
    }
    return runners[score](con, index_date)


def _practice_counts(frame, con, score: str):
    """Counts per practice and band: the only shape that leaves the command for planning or research."""
    import pandas as pd

    con.register("_risk_cli_ids", frame[["patient_id"]].drop_duplicates())
    try:
        practices = con.execute(
            "SELECT p.patient_id, p.practice_id FROM patients p JOIN _risk_cli_ids USING (patient_id)"
        ).df()
    finally:
        con.unregister("_risk_cli_ids")
    merged = frame.merge(practices, on="patient_id", how="left")
    if score == "qrisk3":
        merged["band"] = pd.cut(merged["qrisk3"], [0, 10, 20, 100], right=False, labels=["<10%", "10-20%", ">=20%"])
    elif score == "case-finding":
        merged["band"] = merged["finding"]
    else:
        merged["band"] = merged[_SUMMARY_COLUMN[score]].astype(str)
    return merged.groupby(["practice_id", "band"], observed=True).size().rename("patients").reset_index()


@risk_app.command("run")
def run_command(
    score: str = typer.Argument(..., help=f"One of: {', '.join(SCORES)}."),
    index_date: str = typer.Option(..., "--index-date", help="YYYY-MM-DD: scores as on this date."),
    purpose: str = typer.Option(..., "--purpose", help="direct_care (patient rows) or planning/research (counts)."),
    out: Path = typer.Option(..., "--out", help="Output file, .parquet or .csv."),
    store: Path | None = typer.Option(None, "--store", help="DuckDB record store (default: CARECOMMONS_HOME)."),
) -> None:
    """Compute a score for every eligible registered patient and write it to a file."""
    from carecommons.core.dates import parse_date
    from carecommons.core.paths import store_path
    from carecommons.governance.purposes import Purpose
    from carecommons.store.analytics import connect

    console = Console(stderr=True)
    try:
        if score not in SCORES:
            raise InvalidInput("score", f"{score!r} is not a known score", f"use one of {', '.join(SCORES)}")
        try:
            why = Purpose(purpose)
        except ValueError as err:
            raise InvalidInput(
                "--purpose", f"{purpose!r} is not a purpose", "use direct_care, planning or research"
            ) from err
        if out.suffix not in (".parquet", ".csv"):
            raise InvalidInput(
                "--out", f"{out.suffix or 'no suffix'} is not a supported format", "end it .parquet or .csv"
            )
        when = parse_date(index_date, "--index-date")
        con = connect(store or store_path(), read_only=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{score} as on {when}", total=None)
            frame = _compute(score, con, when)
            if why != Purpose.DIRECT_CARE:
                frame = _practice_counts(frame, con, score)
            bar.update(task, description=f"{score}: {len(frame):,} rows")
        con.close()
    except CarecommonsError as err:
        console.print(f"[red]Error[/red] {err}")
        raise typer.Exit(2) from err
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    Console().print(f"{score}: wrote {len(frame):,} rows to {out} ({why.value})")


@risk_app.command("qrisk3")
def qrisk3_command(
    sex: str = typer.Option(..., "--sex", help="F or M."),
    age: int = typer.Option(..., "--age", help="25-84."),
    bmi: float | None = typer.Option(None, "--bmi"),
    ethrisk: int | None = typer.Option(None, "--ethrisk", help="0-9 as in QRISK3 (0 not recorded)."),
    rati: float | None = typer.Option(None, "--rati", help="Total/HDL cholesterol ratio."),
    sbp: float | None = typer.Option(None, "--sbp", help="Systolic blood pressure, mmHg."),
    sbps5: float | None = typer.Option(None, "--sbps5", help="SD of recent systolic readings."),
    smoke_cat: int | None = typer.Option(None, "--smoke-cat", help="0 non, 1 ex, 2 light, 3 moderate, 4 heavy."),
    town: float | None = typer.Option(None, "--town", help="Townsend score."),
    conditions: str = typer.Option(
        "", "--conditions", help="Comma-separated flags, e.g. b_AF,b_type2,b_treatedhyp,fh_cvd."
    ),
) -> None:
    """QRISK3-2017 10-year cardiovascular risk for one person (values typed in, not read from a record)."""
    from carecommons.risk.qrisk import qrisk3_detailed
    from carecommons.risk.qrisk3_model import BINARY_INPUTS

    console = Console(stderr=True)
    flags = {f.strip() for f in conditions.split(",") if f.strip()}
    try:
        unknown = flags - set(BINARY_INPUTS)
        if unknown:
            raise InvalidInput("--conditions", f"unknown flags {sorted(unknown)}", f"use {', '.join(BINARY_INPUTS)}")
        result = qrisk3_detailed(
            sex=sex,
            age=age,
            bmi=bmi,
            ethrisk=ethrisk,
            rati=rati,
            sbp=sbp,
            sbps5=sbps5,
            smoke_cat=smoke_cat,
            town=town,
            **{f: 1 for f in flags},
        )
    except CarecommonsError as err:
        console.print(f"[red]Error[/red] {err}")
        raise typer.Exit(2) from err
    table = Table(title="QRISK3-2017")
    table.add_column("10-year risk", justify="right")
    table.add_column("imputed inputs")
    table.add_row(f"{result.score:.1f}%", ", ".join(result.imputed) or "none")
    Console().print(table)
    console.print(
        "QRISK3-2017 algorithm (Hippisley-Cox et al., BMJ 2017) as published by ClinRisk Ltd; an implementation "
        "error could give a wrong score: check against https://qrisk.org before clinical use."
    )
