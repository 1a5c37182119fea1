"""`ingest()`: the platform's front door, from source paths to a committed, accounted-for record store."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import duckdb
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from carecommons.core.errors import InvalidInput
from carecommons.ingest import lookups, units
from carecommons.ingest.discovery import Extract, discover, hash_extract
from carecommons.ingest.load import load_extract
from carecommons.ingest.practices import load_practices
from carecommons.ingest.staging import Staged, stage_gp
from carecommons.ingest.summary import ExtractResult, IngestSummary
from carecommons.store.analytics import connect
from carecommons.store.clustering import DEFAULT_THRESHOLD, TableClustering, cluster_by_patient

Stager = Callable[[duckdb.DuckDBPyConnection, Extract], Staged]


def _stagers() -> dict[str, Stager]:
    from carecommons.ingest.feeds import stage_hospital, stage_social_care

    return {"gp": stage_gp, "social_care": stage_social_care, "hospital": stage_hospital}


def default_workers() -> int:
    """Extracts staged at once: one per core (at most 4), or CARECOMMONS_INGEST_WORKERS.

    Why extract-level parallelism: much of an extract's work is many small statements that DuckDB runs on one
    thread, so a single extract leaves the second core idle; two extracts in flight keep both busy.
    """
    env = os.environ.get("CARECOMMONS_INGEST_WORKERS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise InvalidInput(
                "CARECOMMONS_INGEST_WORKERS", f"{env!r} is not a whole number", "set it to 1 or more, or unset it"
            ) from None
        if n < 1:
            raise InvalidInput("CARECOMMONS_INGEST_WORKERS", f"{n} is below 1", "set it to 1 or more, or unset it")
        return n
    return max(1, min(4, os.cpu_count() or 1))


def ingest(
    store: Path,
    sources: Sequence[Path],
    progress: bool = True,
    workers: int | None = None,
    cluster: bool = True,
) -> IngestSummary:
    """Load every extract under `sources` into the record store at `store`.

    Practice reference files load first (the hierarchy), then GP, social-care and hospital extracts,
    each in its own transaction. Extracts already loaded are skipped; an extract older than the one
    loaded for the same organisation is skipped; a newer one replaces it. Data problems never raise:
    bad rows are quarantined with a reason, and an extract that cannot be read at all is reported
    as failed in the summary (summary.ok is False) while the others still load.

    With `cluster` (the default) the patient-keyed tables are then put back in patient order once enough
    new rows have arrived (store.clustering: one-patient reads touch one row group instead of every one).
    It runs even when nothing new was loaded, so a run killed while clustering is finished by the next one.

    Up to `workers` extracts are staged at once (default: :func:`default_workers`), each on its own DuckDB
    connection so its temp tables are its own. One organisation's extracts always go through one worker in
    date order (supersession depends on it), and commits take turns under a lock, so every extract is still
    one atomic transaction and the summary lists extracts in the same order as a one-worker run.
    """
    t0 = time.perf_counter()
    n_workers = workers if workers is not None else default_workers()
    if n_workers < 1:
        raise InvalidInput("workers", f"{n_workers} is below 1", "give 1 or more workers")
    found = discover([Path(s) for s in sources], hash_files=False)
    summary = IngestSummary()
    for name, err in found.refused:
        summary.extracts.append(
            ExtractResult(path=name, feed="?", org=None, extract_date=None, load_id=None, status="failed", error=err)
        )
    stagers = _stagers()
    con = connect(store)
    try:
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
            counters = {"rows": 0, "done": 0}
            progress_lock = threading.Lock()

            def advance(label: str, size: int, result: ExtractResult) -> None:
                with progress_lock:
                    counters["rows"] += result.received
                    counters["done"] += 1
                    if prog is not None and task is not None:
                        prog.update(task, advance=size, description=label, **counters)

            for path in found.practice_files:
                name = _relative_name(path)
                result = load_practices(con, path, name)
                summary.extracts.append(result)
                advance("practices", path.stat().st_size, result)
            summary.extracts.extend(_load_extracts(con, found.extracts, stagers, n_workers, advance))
        if cluster:
            summary.clustering = _cluster(con, progress)
    finally:
        con.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _cluster(con: duckdb.DuckDBPyConnection, progress: bool) -> list[TableClustering]:
    """Put the patient-keyed tables back in patient order where enough new rows arrived, saying so as it goes."""
    console = Console(stderr=True) if progress else None

    def report(t: TableClustering) -> None:
        if console is not None and t.rewritten:
            console.print(f"clustered {t.table} by patient: {t.rows:,} rows in {t.seconds:.1f} s")

    if console is not None:
        console.print("checking patient order of the store's patient-keyed tables")
    return cluster_by_patient(con, threshold=DEFAULT_THRESHOLD, on_table=report)


def _load_extracts(
    con: duckdb.DuckDBPyConnection,
    extracts: list[Extract],
    stagers: dict[str, Stager],
    n_workers: int,
    advance: Callable[[str, int, ExtractResult], None],
) -> list[ExtractResult]:
    """Load `extracts` with up to `n_workers` in flight; results come back in the order given."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, ex in enumerate(extracts):
        groups.setdefault((ex.feed, ex.org), []).append(i)
    # Largest organisations first, so a big practice does not start last and leave one worker idle at the end.
    pending = sorted(groups.values(), key=lambda idx: -sum(extracts[i].total_bytes for i in idx))
    results: list[ExtractResult | None] = [None] * len(extracts)
    commit_lock = threading.Lock()
    queue_lock = threading.Lock()
    failure: list[BaseException] = []

    def worker() -> None:
        cur = con.cursor()
        try:
            lookups.install(cur)
            units.install(cur)
            while not failure:
                with queue_lock:
                    if not pending:
                        return
                    group = pending.pop(0)
                for i in group:
                    ex = extracts[i]
                    refused = hash_extract(ex)  # here, not up front: hashing one extract overlaps loading another
                    if refused is not None:
                        result = ExtractResult(
                            path=str(ex.directory),
                            feed=ex.feed,
                            org=ex.org,
                            extract_date=ex.extract_date,
                            load_id=None,
                            status="failed",
                            error=refused,
                        )
                    else:
                        result = load_extract(cur, ex, stagers[ex.feed], commit_lock)
                    results[i] = result
                    advance(f"{ex.feed} {ex.org}", ex.total_bytes, result)
        except BaseException as err:  # re-raised in the caller's thread; the other workers stop
            failure.append(err)
        finally:
            cur.close()

    n = max(1, min(n_workers, len(pending)))
    if n == 1:
        worker()
    else:
        threads = [threading.Thread(target=worker, name=f"ingest-{k}") for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if failure:
        raise failure[0]
    return [r for r in results if r is not None]


def _relative_name(path: Path) -> str:
    parts = path.resolve().parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else path.name
