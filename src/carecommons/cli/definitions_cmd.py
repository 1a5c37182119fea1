"""`carecommons run` and `carecommons definitions list|show|explain`.

Overrides are read from the package's shipped layer and from $CARECOMMONS_HOME/overrides (a deployment's
own London/ICS/borough/PCN/practice files), so `explain` shows exactly what `run` will use.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from carecommons.core import paths
from carecommons.core.errors import CarecommonsError, InvalidInput, NotFound

definitions_app = typer.Typer(help="The shared definitions library: list, show, explain local variation.")
console = Console()


def _override_dirs(extra: Path | None) -> list[Path]:
    from carecommons.definitions.overrides import DEFAULT_OVERRIDES_DIR

    dirs = [DEFAULT_OVERRIDES_DIR, paths.home() / "overrides"]
    if extra is not None:
        dirs.append(extra)
    return [d for d in dirs if d.is_dir()]


def _library(overrides: Path | None):
    from carecommons.definitions.library import load_library

    return load_library(_override_dirs(overrides))


def _fail(err: CarecommonsError) -> None:
    console.print(f"[red]{err}[/red]")
    raise typer.Exit(code=2)


@definitions_app.command("list")
def list_definitions(overrides: Path | None = typer.Option(None, help="extra overrides directory")) -> None:
    """Every definition: id, version, kind, group and title (local definitions show their origin)."""
    try:
        lib = _library(overrides)
    except CarecommonsError as err:
        _fail(err)
    table = Table("id", "version", "kind", "group", "title", "origin")
    for d in lib.all_definitions():
        table.add_row(d.id, d.version, d.kind.value, d.group, d.title, d.origin)
    console.print(table)


@definitions_app.command("show")
def show(definition_id: str, overrides: Path | None = typer.Option(None, help="extra overrides directory")) -> None:
    """One definition in full: description, source, codelists, parameters and the logic tree."""
    try:
        lib = _library(overrides)
        d = lib.get(definition_id)
    except CarecommonsError as err:
        _fail(err)
    console.print(f"[bold]{d.id}[/bold] v{d.version} ({d.kind.value}, {d.group}): {d.title}")
    console.print(d.description)
    console.print(f"Source: {d.source}")
    table = Table("codelist", "system", "codes", "file")
    for cl in d.codelists:
        c = lib.codelists[cl]
        table.add_row(cl, c.system, str(len(c)), Path(c.source).name)
    console.print(table)
    params = Table("parameter", "default", "unit", "description")
    for p in d.parameters:
        params.add_row(p.name, str(p.default), p.unit, p.description)
    console.print(params)
    from carecommons.definitions.render import render

    for name, tree in (("denominator", d.denominator), ("numerator", d.numerator), ("exclusions", d.exclusions)):
        if tree is not None:
            console.print(f"{name}: {render(tree)}", soft_wrap=True, markup=False, highlight=False)


@definitions_app.command("explain")
def explain(
    definition_id: str,
    org: str = typer.Option(..., "--org", help="ODS code of a practice (or a PCN id, borough name or ICB code)"),
    store: Path | None = typer.Option(None, help="record store (default: $CARECOMMONS_HOME/store.duckdb)"),
    overrides: Path | None = typer.Option(None, help="extra overrides directory"),
) -> None:
    """Each effective parameter of a definition for an organisation, and which layer it came from."""
    try:
        lib = _library(overrides)
        chain = _chain(org, store)
        ex = lib.explain(definition_id, chain)
    except CarecommonsError as err:
        _fail(err)
    where = " > ".join(x for x in ("London", chain.icb, chain.borough, chain.pcn_id, chain.practice_id) if x)
    console.print(f"[bold]{ex.definition.id}[/bold] v{ex.definition.version} for {where}")
    if not ex.applies:
        console.print(
            f"[yellow]{ex.definition.id} is a local definition of {ex.definition.origin}; it does not apply here[/yellow]"
        )
    table = Table("parameter", "effective value", "origin", "reason", "history (coarse to fine)")
    for e in ex.parameters.values():
        history = "; ".join(f"{o}: {v}" for o, v in e.history)
        table.add_row(e.name, str(e.value), e.origin, e.reason, history)
    console.print(table)


def _chain(org: str, store: Path | None):
    """Find the org in the store's practices table at any level; without a store, treat it as a practice."""
    from carecommons.definitions.overrides import OrgChain

    path = store or paths.store_path()
    if not path.exists():
        return OrgChain(practice_id=org)
    from carecommons.store.analytics import connect

    con = connect(path, read_only=True)
    try:
        for col in ("practice_id", "pcn_id", "borough", "icb"):
            row = con.execute(
                f"SELECT practice_id, pcn_id, borough, icb FROM practices WHERE {col} = ? LIMIT 1", [org]
            ).fetchone()
            if row:
                keep = ("practice_id", "pcn_id", "borough", "icb").index(col)
                values = [v if i >= keep else None for i, v in enumerate(row)]
                return OrgChain(*values)
    finally:
        con.close()
    raise NotFound(org, "no practice, PCN, borough or ICB with that code in the store", "check the ODS code")


def run_cmd(
    store: Path | None = typer.Option(None, help="record store (default: $CARECOMMONS_HOME/store.duckdb)"),
    index_date: str | None = typer.Option(None, "--index-date", help="YYYY-MM-DD (default: last month end)"),
    months: int = typer.Option(1, help="monthly index dates ending at --index-date (a time series in one run)"),
    backend: str = typer.Option("duckdb", help="duckdb or spark"),
    definition: list[str] | None = typer.Option(None, "--definition", help="only these ids (repeatable)"),
    overrides: Path | None = typer.Option(None, help="extra overrides directory"),
    chunks: int | None = typer.Option(
        None,
        "--chunks",
        min=1,
        help="patient ranges evaluated one after another (default: from the store size and memory limit, "
        "or CARECOMMONS_ENGINE_CHUNKS); more ranges use less memory and a little more CPU",
    ),
) -> None:
    """Compute the definitions library over the record store into versioned results tables."""
    from carecommons.core.dates import month_ends, parse_date
    from carecommons.engine import run
    from carecommons.store.analytics import connect

    try:
        if months < 1:
            raise InvalidInput("--months", "must be at least 1", "give e.g. --months 24")
        today = dt.date.today()
        last = parse_date(index_date, "--index-date") if index_date else today.replace(day=1) - dt.timedelta(days=1)
        dates = month_ends(last, months) if months > 1 else [last]
        lib = _library(overrides)
        con = connect(store or paths.store_path())
        try:
            summary = run(
                con, lib, dates, backend=backend, progress=True, definition_ids=definition or None, chunks=chunks
            )
        finally:
            con.close()
    except CarecommonsError as err:
        _fail(err)
    console.print(
        f"run {summary.run_id} on snapshot {summary.snapshot_id} ({summary.backend}): "
        f"{len(summary.definitions)} definitions x {len(summary.index_dates)} index dates, "
        f"{summary.population_rows:,} patient-dates, {summary.patient_rows:,} patient results, "
        f"{summary.aggregate_rows:,} aggregate cells in {summary.seconds:.1f} s"
    )
