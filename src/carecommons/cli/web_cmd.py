"""CLI for the web app: `carecommons serve` and `carecommons web demo-store`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from carecommons.core.errors import CarecommonsError

console = Console()
web_app = typer.Typer(help="The web application: development store.", no_args_is_help=True)


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (127.0.0.1 keeps it on this machine)."),
    port: int = typer.Option(8000, help="TCP port."),
    store: Path | None = typer.Option(None, help="Record store (default: CARECOMMONS_HOME/store.duckdb)."),
    database_url: str | None = typer.Option(None, "--database-url", help="Operational DB URL (default from env)."),
    secure_cookies: bool = typer.Option(False, help="Mark the session cookie Secure (set behind HTTPS)."),
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="uvicorn worker processes (0 = one per CPU core, at most 8). Pages are CPU-bound, so one process "
            "serialises them; workers share sessions, CSRF, sign-in throttling and published dashboards.",
        ),
    ] = 0,
    warm: Annotated[
        bool,
        typer.Option(
            "--warm/--no-warm",
            help="Build the planning dashboards and the worklist rules' summary of the store in the background after start-up.",
        ),
    ] = True,
    keep_store_open: Annotated[
        bool,
        typer.Option(
            "--keep-store-open/--no-keep-store-open",
            help="Hold the record store open in each worker (saves ~40 ms CPU per page; `carecommons run` then "
            "needs the server stopped).",
        ),
    ] = True,
) -> None:
    """Serve the web app with uvicorn. Brings the operational database to the newest schema first."""
    import secrets

    import uvicorn

    from carecommons.store.migrate import upgrade
    from carecommons.web.app import create_app
    from carecommons.web.settings import (
        ENV_KEEP_OPEN,
        ENV_PARENT,
        ENV_SECURE_COOKIES,
        ENV_SHARED,
        ENV_STORE,
        ENV_WARM,
        Settings,
    )
    from carecommons.web.shared import shared_path_for

    defaults = Settings()
    settings = Settings(
        store_path=store or defaults.store_path,
        operational_url=database_url or defaults.operational_url,
        secret_key=defaults.secret_key,
        secure_cookies=secure_cookies,
    )
    try:
        upgrade(settings.operational_url)
    except CarecommonsError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    if not settings.frontend_dir.is_dir():
        console.print(
            "[yellow]NHS.UK frontend not installed: run scripts/install-frontend.sh (pages will be unstyled)[/yellow]"
        )
    if not settings.store_path.exists():
        console.print(
            f"[yellow]No record store at {settings.store_path}: dashboards will say so until one is built[/yellow]"
        )
    if workers < 0:
        console.print(f"[red]--workers {workers}: must be 0 (one per core) or more; use e.g. --workers 2[/red]")
        raise typer.Exit(2)
    n = workers or default_workers()
    console.print(f"Carecommons on http://{host}:{port}/  (API docs at /api/docs), {n} worker(s)")
    if n == 1:
        single = dataclasses.replace(
            settings,
            warm_dashboards=warm,
            warm_worklists=warm,
            keep_store_open=keep_store_open,
            shared_state_path=shared_path_for(settings.store_path),
        )
        uvicorn.run(
            create_app(single),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        return
    # Each worker builds its app from the environment: same store, database and cookie-signing key (a key
    # made per process would sign a user out whenever the next request reached another worker).
    os.environ[ENV_STORE] = str(settings.store_path)
    os.environ[ENV_SHARED] = str(shared_path_for(settings.store_path))
    os.environ["CARECOMMONS_DATABASE_URL"] = settings.operational_url
    os.environ.setdefault("CARECOMMONS_SECRET_KEY", secrets.token_urlsafe(32))
    os.environ[ENV_SECURE_COOKIES] = "1" if secure_cookies else "0"
    os.environ[ENV_WARM] = "1" if warm else "0"
    os.environ[ENV_KEEP_OPEN] = "1" if keep_store_open else "0"
    os.environ[ENV_PARENT] = str(os.getpid())
    uvicorn.run(
        "carecommons.web.app:create_app_from_env",
        factory=True,
        workers=n,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


#: Seconds an idle keep-alive connection stays open. uvicorn's default (5 s) is shorter than the pause of a person
#: reading a page, so a click sent just as the server closed the idle connection failed with "server disconnected"
#: (6 transport errors in 2,944 requests of the 1 M load test with 2-8 s think time). 75 s is nginx's default.
KEEP_ALIVE_SECONDS = 75


def default_workers() -> int:
    """One worker per core (at most 8): pages are CPU-bound Python, so more processes than cores only queue."""
    return max(1, min(8, os.cpu_count() or 1))


@web_app.command("demo-store")
def demo_store_command(
    out: Path = typer.Option(..., "--out", help="DuckDB file to create (replaced if it exists)."),
    patients: int = typer.Option(2000, min=100, help="Synthetic patients."),
    practices: int = typer.Option(24, min=2, help="Practices (real London ODS codes, geography NOT real)."),
    boroughs: int = typer.Option(6, min=1, help="Boroughs, spread over the five ICSs."),
    seed: int = typer.Option(7, help="Random seed."),
) -> None:
    """A quick store for web development and the web benchmark (use `synth` + `ingest` for realistic data)."""
    from carecommons.web.demo import build_demo_store

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
        progress.add_task(f"Writing {patients:,} patients to {out}", total=None)
        build_demo_store(out, patients=patients, practices=practices, boroughs=boroughs, seed=seed)
    console.print(f"[green]Wrote {out}[/green]")
