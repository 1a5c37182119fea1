"""`carecommons demo`: the whole platform on synthetic London, on the embedded defaults (DuckDB + SQLite).

It runs the same steps an operator would (synth, ingest, link, run, seed accounts, serve) through the
layers' public functions, so the demo exercises the real pipeline rather than a shortcut. Re-running
is cheap: synthesis is skipped when the sources for the same size and seed exist, and ingest skips
extracts it has already loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from carecommons.core import paths
from carecommons.core.dates import month_ends
from carecommons.core.errors import CarecommonsError

console = Console()

#: The demo's data are as of this date, so figures and screenshots are the same on every machine and day.
DEMO_EXTRACT_DATE = dt.date(2026, 10, 31)
TREND_MONTHS = 24


def _step(title: str) -> float:
    console.rule(f"[bold]{title}")
    return time.perf_counter()


def _done(started: float, what: str) -> None:
    console.print(f"[green]done[/green] {what} in {time.perf_counter() - started:.1f} s")


def demo_command(
    patients: int = typer.Option(20_000, min=1_000, help="Synthetic patients (London has 10.7 million)."),
    seed: int = typer.Option(42, help="Seed for the synthetic population (same seed, same city)."),
    host: str = typer.Option("127.0.0.1", help="Address the web app listens on."),
    port: int = typer.Option(8000, help="Port the web app listens on."),
    fresh: bool = typer.Option(False, help="Delete the demo's sources, store and operational DB first."),
    serve: bool = typer.Option(True, help="Serve the web app at the end (--no-serve to stop after computing)."),
) -> None:
    """Generate synthetic London, ingest it, link identities, compute the definitions and serve the web app."""
    from carecommons.definitions.library import load_library
    from carecommons.engine import run
    from carecommons.governance.seed import seed_demo
    from carecommons.identity.linkage import run_linkage
    from carecommons.ingest import ingest
    from carecommons.store.analytics import connect
    from carecommons.store.migrate import upgrade
    from carecommons.store.operational import make_engine, make_sessionmaker
    from carecommons.synth import generate
    from carecommons.synth.config import FAULTS

    home = paths.home()
    sources, store, db_url = paths.sources_dir(), paths.store_path(), paths.operational_url()
    marker = home / "demo.json"
    wanted = {"patients": patients, "seed": seed, "extract_date": DEMO_EXTRACT_DATE.isoformat()}
    try:
        if fresh:
            for p in (sources, store, Path(str(store) + ".wal"), home / "operational.sqlite", marker):
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        home.mkdir(parents=True, exist_ok=True)

        t = _step(f"1/6 synthesise London: {patients:,} patients (seed {seed})")
        if marker.exists() and json.loads(marker.read_text()) == wanted and sources.is_dir():
            console.print(f"sources for this size and seed already in {sources}; skipping")
        else:
            if sources.exists():
                shutil.rmtree(sources)
            generate(sources, patients, seed=seed, format="mixed", faults=FAULTS, extract_date=DEMO_EXTRACT_DATE)
            marker.write_text(json.dumps(wanted))
        _done(t, "synthesis")

        t = _step("2/6 ingest the extracts into the record store")
        summary = ingest(store, [sources])
        console.print(
            f"received {summary.received:,} rows: loaded {summary.loaded:,}, quarantined {summary.quarantined:,} "
            "(the synthetic feeds carry deliberate data-quality faults; see `carecommons quarantine`)"
        )
        if not summary.ok:
            console.print("[red]some extracts could not be loaded; see the summary above[/red]")
            raise typer.Exit(1)
        _done(t, "ingest")

        con = connect(store)
        try:
            t = _step("3/6 link hospital and social-care records to GP patients")
            linked = run_linkage(con, on_step=lambda name: console.print(f"  {name}"))
            for feed, by_method in linked.counts.items():
                console.print(f"  {feed}: " + ", ".join(f"{m} {n:,}" for m, n in by_method.items()))
            _done(t, "linkage")

            t = _step(f"4/6 compute the London library over {TREND_MONTHS} month ends")
            result = run(con, load_library(), month_ends(DEMO_EXTRACT_DATE, TREND_MONTHS))
            console.print(
                f"{len(result.definitions)} definitions, {result.patient_rows:,} patient results, "
                f"{result.aggregate_rows:,} aggregate cells (run {result.run_id})"
            )
            _done(t, "definitions")

            t = _step("5/6 operational database and demo accounts")
            upgrade(db_url)
            engine = make_engine(db_url)
            with make_sessionmaker(engine)() as session:
                seeded = seed_demo(session, con, today=DEMO_EXTRACT_DATE)
                session.commit()
            engine.dispose()
        finally:
            con.close()
        table = Table(title=f"Demo accounts (password for all: {seeded.password})")
        table.add_column("username")
        table.add_column("who")
        for user in seeded.users:
            table.add_row(user.username, user.description)
        console.print(table)
        _done(t, "accounts")
    except CarecommonsError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None

    if serve:
        _step(f"6/6 serve the web app on http://{host}:{port}/")
        from carecommons.cli.web_cmd import serve_command

        serve_command(host=host, port=port, store=store, database_url=db_url, secure_cookies=False)
