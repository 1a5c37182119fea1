"""`carecommons synth`: write a synthetic London in the source formats (see docs/source-formats.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from carecommons.core.errors import CarecommonsError
from carecommons.core.paths import sources_dir


def synth_command(
    patients: int = typer.Option(20_000, "--patients", help="GP patient records in total (1,000 to 11,000,000)."),
    seed: int = typer.Option(42, "--seed", help="Random seed: the same seed gives byte-identical output."),
    out: Path | None = typer.Option(None, "--out", help="Output directory (default: CARECOMMONS_HOME/sources)."),
    format: str = typer.Option("mixed", "--format", help="mixed (about half the practices each), csv or fhir."),
    faults: str = typer.Option(
        "", "--faults", help="Comma-separated: missing-ethnicity,duplicate-events,invalid-nhs,future-dates."
    ),
    extract_date: str | None = typer.Option(None, "--extract-date", help="YYYY-MM-DD (default: 1st of this month)."),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: 2 for large runs)."),
) -> None:
    """Generate synthetic London GP extracts plus social-care and hospital feeds and linkage truth."""
    from carecommons.core.dates import parse_date
    from carecommons.synth import generate

    console = Console(stderr=True)
    try:
        when = parse_date(extract_date, "--extract-date") if extract_date else None
        chosen = frozenset(f.strip() for f in faults.split(",") if f.strip())
        summary = generate(
            out_dir=out or sources_dir(),
            patients=patients,
            seed=seed,
            format=format,
            faults=chosen,
            extract_date=when,
            progress=True,
            workers=workers,
        )
    except CarecommonsError as err:
        console.print(f"[red]Error[/red] {err}")
        raise typer.Exit(2) from err
    table = Table(title=f"Synthetic London: {summary.out_dir}")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for name, count in summary.rows.items():
        table.add_row(name, f"{count:,}")
    table.add_row("social-care records", f"{summary.social_care_records:,}")
    table.add_row("hospital discharges", f"{summary.hospital_discharges:,}")
    table.add_row("fault rows (truth/faults.csv)", f"{summary.fault_rows:,}")
    systems = ", ".join(f"{k} {v}" for k, v in sorted(summary.practices_by_system.items()))
    table.add_row("practices", f"{summary.practices:,} ({systems})")
    Console().print(table)
    if summary.practices_subset:
        console.print(
            f"Note: {summary.patients:,} patients is small for London's practices, so a seeded subset of "
            f"{summary.practices} practices (every borough represented) was used."
        )
