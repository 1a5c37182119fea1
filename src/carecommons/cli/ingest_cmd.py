"""CLI: `carecommons ingest`, `carecommons quarantine`, `carecommons dq`.

Exit codes: 0 when every extract was loaded or skipped (quarantined rows are not errors: they are
the validation working); 1 when some extract could not be loaded at all; 2 for bad arguments.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from carecommons.core import paths
from carecommons.core.errors import CarecommonsError

console = Console()


def ingest_command(
    sources: list[Path] = typer.Argument(..., help="Source directories (synth output, feed drops) or extract dirs."),
    store: Path | None = typer.Option(
        None, "--store", help="Record store file (default: CARECOMMONS_HOME/store.duckdb)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Extracts staged at once (default: one per core, at most 4; or CARECOMMONS_INGEST_WORKERS).",
    ),
    cluster: bool = typer.Option(
        True,
        "--cluster/--no-cluster",
        help="Afterwards, put the patient-keyed tables back in patient order once over 10% of rows are new "
        "(fast one-patient reads).",
    ),
) -> None:
    """Load FHIR NDJSON/Bundles and CSV extracts into the record store; bad rows go to quarantine."""
    from carecommons.ingest import ingest

    try:
        summary = ingest(store or paths.store_path(), sources, progress=progress, workers=workers, cluster=cluster)
    except CarecommonsError as err:
        console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2) from err
    table = Table(title="Ingest summary")
    for col in ("feed", "org", "extract", "status", "received", "loaded", "quarantined", "seconds", "note"):
        table.add_column(col, justify="right" if col in ("received", "loaded", "quarantined", "seconds") else "left")
    for row in summary.rows():
        style = {"failed": "red", "skipped": "dim"}.get(str(row["status"]), "")
        table.add_row(
            str(row["feed"]),
            str(row["org"] or ""),
            str(row["extract_date"] or ""),
            f"[{style}]{row['status']}[/{style}]" if style else str(row["status"]),
            f"{row['received']:,}",
            f"{row['loaded']:,}",
            f"{row['quarantined']:,}",
            f"{row['seconds']:.2f}",
            str(row["note"]),
        )
    console.print(table)
    console.print(
        f"received {summary.received:,} = loaded {summary.loaded:,} + quarantined {summary.quarantined:,} "
        f"in {summary.seconds:.1f} s; {len(summary.by_status('loaded'))} loaded, "
        f"{len(summary.by_status('skipped'))} skipped, {len(summary.by_status('failed'))} failed"
    )
    rewritten = [t for t in summary.clustering if t.rewritten]
    if rewritten:
        console.print(
            "put in patient order: " + ", ".join(f"{t.table} ({t.rows:,} rows, {t.seconds:.1f} s)" for t in rewritten)
        )
    if not summary.ok:
        raise typer.Exit(1)


def quarantine_command(
    practice: str | None = typer.Option(None, "--practice", help="Only this practice (ODS code) or feed org."),
    limit: int = typer.Option(50, "--limit", min=1, help="Rows to show."),
    show_raw: bool = typer.Option(False, "--show-raw", help="Also print the raw source line (holds patient data)."),
    store: Path | None = typer.Option(None, "--store", help="Record store file."),
) -> None:
    """Show quarantined rows: file, line, field and reason (no patient values unless --show-raw)."""
    from carecommons.store.analytics import connect

    try:
        con = connect(store or paths.store_path(), read_only=True)
    except CarecommonsError as err:
        console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2) from err
    where = "WHERE m.practice_id = $p" if practice else ""
    rows = con.execute(
        f"""
        SELECT q.source_file, q.line, q.resource_type, q.field, q.reason, q.raw
        FROM quarantine q JOIN (SELECT DISTINCT load_id, practice_id FROM load_manifest) m ON m.load_id = q.load_id
        {where} ORDER BY q.source_file, q.line LIMIT $n
        """,
        {"p": practice, "n": limit} if practice else {"n": limit},
    ).fetchall()
    reasons = con.execute(
        f"""
        SELECT q.reason, count(*) FROM quarantine q
        JOIN (SELECT DISTINCT load_id, practice_id FROM load_manifest) m ON m.load_id = q.load_id
        {where} GROUP BY ALL ORDER BY 2 DESC LIMIT 10
        """,
        {"p": practice} if practice else {},
    ).fetchall()
    con.close()
    table = Table(title="Quarantine")
    for col in ("file", "line", "resource", "field", "reason", *(["raw"] if show_raw else [])):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r[0]),
            str(r[1] if r[1] is not None else ""),
            str(r[2] or ""),
            str(r[3] or ""),
            str(r[4]),
            *([str(r[5] or "")] if show_raw else []),
        )
    console.print(table)
    top = Table(title="Most common reasons")
    top.add_column("rows", justify="right")
    top.add_column("reason")
    for reason, n in reasons:
        top.add_row(f"{n:,}", reason)
    console.print(top)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def dq_command(
    practice: str | None = typer.Option(None, "--practice", help="Only this practice (ODS code)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    store: Path | None = typer.Option(None, "--store", help="Record store file."),
) -> None:
    """Data-quality report per practice: ethnicity and NHS number completeness, BP recording, coding currency."""
    from carecommons.ingest.quality import COLUMNS, practice_quality
    from carecommons.store.analytics import connect

    try:
        con = connect(store or paths.store_path(), read_only=True)
    except CarecommonsError as err:
        console.print(f"[red]error[/red] {err}")
        raise typer.Exit(2) from err
    rows = practice_quality(con, practice)
    con.close()
    if fmt == Format.json:
        typer.echo(json.dumps(rows, indent=1))
    elif fmt == Format.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
    else:
        table = Table(title="Data quality per practice")
        for col in COLUMNS:
            table.add_column(col, justify="left" if col in ("practice_id", "extract_date") else "right")
        for r in rows:
            table.add_row(*("" if r[c] is None else str(r[c]) for c in COLUMNS))
        console.print(table)
