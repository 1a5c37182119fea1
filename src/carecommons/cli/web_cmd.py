"""CLI for the web app: `carecommons serve` and `carecommons web demo-store`."""

from __future__ import annotations

from pathlib import Path

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
) -> None:
    """Serve the web app with uvicorn. Brings the operational database to the newest schema first."""
    import uvicorn

    from carecommons.store.migrate import upgrade
    from carecommons.web.app import create_app
    from carecommons.web.settings import Settings

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
    console.print(f"Carecommons on http://{host}:{port}/  (API docs at /api/docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False)


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
