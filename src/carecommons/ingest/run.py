"""`ingest()`: the platform's front door, from source paths to a committed, accounted-for record store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import duckdb
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from carecommons.ingest import lookups, units
from carecommons.ingest.discovery import Extract, discover
from carecommons.ingest.load import load_extract
from carecommons.ingest.practices import load_practices
from carecommons.ingest.staging import Staged, stage_gp
from carecommons.ingest.summary import ExtractResult, IngestSummary
from carecommons.store.analytics import connect

Stager = Callable[[duckdb.DuckDBPyConnection, Extract], Staged]


def _stagers() -> dict[str, Stager]:
    from carecommons.ingest.feeds import stage_hospital, stage_social_care

    return {"gp": stage_gp, "social_care": stage_social_care, "hospital": stage_hospital}


def ingest(store: Path, sources: Sequence[Path], progress: bool = True) -> IngestSummary:
    """Load every extract under `sources` into the record store at `store`.

    Practice reference files load first (the hierarchy), then GP, social-care and hospital extracts,
    each in its own transaction. Extracts already loaded are skipped; an extract older than the one
    loaded for the same organisation is skipped; a newer one replaces it. Data problems never raise:
    bad rows are quarantined with a reason, and an extract that cannot be read at all is reported
    as failed in the summary (summary.ok is False) while the others still load.
    """
    t0 = time.perf_counter()
    found = discover([Path(s) for s in sources])
    summary = IngestSummary()
    for name, err in found.refused:
        summary.extracts.append(
            ExtractResult(path=name, feed="?", org=None, extract_date=None, load_id=None, status="failed", error=err)
        )
    stagers = _stagers()
    con = connect(store)
    try:
        lookups.install(con)
        units.install(con)
        total = sum(e.total_bytes for e in found.extracts) + sum(p.stat().st_size for p in found.practice_files)
        bar = (
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[done]}/{task.fields[units]} extracts"),
                TextColumn("{task.fields[rows]:>12,} rows"),
                TimeElapsedColumn(),
                transient=False,
            )
            if progress
            else nullcontext()
        )
        with bar as prog:
            units_total = len(found.extracts) + len(found.practice_files)
            # The bar advances by bytes (extracts differ a thousandfold in size); counts are shown beside it.
            task = prog.add_task("ingest", total=max(total, 1), rows=0, done=0, units=units_total) if prog else None
            rows = done = 0

            def advance(label: str, size: int, result: ExtractResult) -> None:
                nonlocal rows, done
                rows += result.received
                done += 1
                if prog is not None and task is not None:
                    prog.update(task, advance=size, description=label, rows=rows, done=done)

            for path in found.practice_files:
                name = _relative_name(path)
                result = load_practices(con, path, name)
                summary.extracts.append(result)
                advance("practices", path.stat().st_size, result)
            for ex in found.extracts:
                if prog is not None and task is not None:
                    prog.update(task, description=f"{ex.feed} {ex.org} {ex.extract_date.isoformat()}")
                result = load_extract(con, ex, stagers[ex.feed])
                summary.extracts.append(result)
                advance(f"{ex.feed} {ex.org}", ex.total_bytes, result)
    finally:
        con.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _relative_name(path: Path) -> str:
    parts = path.resolve().parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else path.name
