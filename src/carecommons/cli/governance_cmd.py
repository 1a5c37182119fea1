"""CLI for the operational database and governance: `db upgrade`, `audit verify|show`, `governance ...`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from carecommons.core.errors import CarecommonsError
from carecommons.core.paths import operational_url, store_path

console = Console()
db_app = typer.Typer(help="The operational database (users, agreements, consents, audit).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
gov_app = typer.Typer(help="Governance: demo accounts, organisations, National Data Opt-outs.", no_args_is_help=True)

_URL = typer.Option(None, "--url", help="SQLAlchemy URL (default CARECOMMONS_DATABASE_URL or SQLite in home)")


@contextmanager
def _session(url: str | None):
    from carecommons.store.migrate import upgrade
    from carecommons.store.operational import make_engine, make_sessionmaker

    url = url or operational_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _fail(err: CarecommonsError) -> None:
    console.print(f"[red]{err}[/red]")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(url: str | None = _URL) -> None:
    """Bring the operational database to the newest schema (Alembic head)."""
    from carecommons.store.migrate import current_revision, upgrade

    target = url or operational_url()
    upgrade(target)
    console.print(f"operational database at revision {current_revision(target)}")


@audit_app.command("verify")
def audit_verify(url: str | None = _URL) -> None:
    """Check every link of the audit chain; exit 1 naming the first broken entry."""
    from carecommons.governance.audit import verify

    with _session(url) as session, console.status("verifying audit chain"):
        result = verify(session)
    if result.ok:
        console.print(f"[green]audit chain intact[/green]: {result.checked} entries")
        return
    console.print(f"[red]audit chain broken at entry {result.first_broken_seq}[/red]: {result.reason}")
    raise typer.Exit(1)


@audit_app.command("show")
def audit_show(
    patient: int | None = typer.Option(None, "--patient", help="platform patient id: entries about this patient"),
    limit: int = typer.Option(50, help="newest entries to show when no patient is given"),
    url: str | None = _URL,
) -> None:
    """Show audit entries: about one patient (what they see), or the newest ones."""
    from carecommons.governance.audit import entries, entries_for_patient

    with _session(url) as session:
        rows = (
            entries_for_patient(session, patient, include_changes=True)
            if patient is not None
            else entries(session, limit)
        )
    table = Table("seq", "when (UTC)", "user", "role", "organisation", "purpose", "patient", "action", "detail")
    for e in rows:
        table.add_row(
            str(e.seq),
            e.at.isoformat(sep=" ", timespec="seconds"),
            e.user_id,
            e.role,
            e.org_id or "",
            e.purpose,
            "" if e.patient_id is None else str(e.patient_id),
            e.action,
            e.detail,
        )
    console.print(table)


@gov_app.command("seed-demo")
def seed_demo_cmd(
    store: Path | None = typer.Option(None, help="DuckDB record store (default CARECOMMONS_HOME/store.duckdb)"),
    url: str | None = _URL,
) -> None:
    """Create demo users of every role (password printed), relationships and agreements from the store."""
    from carecommons.governance.seed import seed_demo
    from carecommons.store.analytics import connect

    con = connect(store or store_path(), read_only=True)
    try:
        with _session(url) as session, console.status("seeding demo governance data"):
            seed = seed_demo(session, con)
    except CarecommonsError as err:
        _fail(err)
    finally:
        con.close()
    table = Table("username", "role", "organisation", "who")
    for u in seed.users:
        table.add_row(u.username, u.role, u.org_id or "", u.description)
    console.print(table)
    console.print(f"demo password for every account: [bold]{seed.password}[/bold]")


@gov_app.command("sync-orgs")
def sync_orgs_cmd(store: Path | None = typer.Option(None, help="DuckDB record store"), url: str | None = _URL) -> None:
    """Mirror the store's practice hierarchy into the operational database."""
    from carecommons.governance.orgs import sync_from_store
    from carecommons.store.analytics import connect

    con = connect(store or store_path(), read_only=True)
    try:
        with _session(url) as session:
            n = sync_from_store(session, con)
    finally:
        con.close()
    console.print(f"{n} organisations in the operational database")


@gov_app.command("ndop-load")
def ndop_load_cmd(
    file: Path = typer.Argument(..., help="text/CSV file, one NHS number per line (header 'nhs_number' allowed)"),
    batch: str = typer.Option("", help="batch label, e.g. the NDOP extract date"),
    url: str | None = _URL,
) -> None:
    """Load a National Data Opt-out list; those patients leave planning and research views at once."""
    from carecommons.governance.optouts import record_ndop

    lines = [ln.split(",")[0].strip() for ln in file.read_text(encoding="utf-8").splitlines()]
    numbers = [ln for ln in lines if ln and ln.lower() != "nhs_number"]
    try:
        with _session(url) as session:
            n = record_ndop(session, nhs_numbers=numbers, batch=batch or file.name)
    except CarecommonsError as err:
        _fail(err)
    console.print(f"{n} National Data Opt-outs recorded")
