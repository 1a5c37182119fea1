"""CLI: `carecommons link` (build the person index), `carecommons link explain`, `carecommons keys`.

Output names feeds, methods, counts, comparison levels and weights; never a patient's identifying values.
Exit codes: 0 done, 2 bad arguments or set-up (missing store, no key, unknown record).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from carecommons.core import paths
from carecommons.core.errors import CarecommonsError

console = Console()
link_app = typer.Typer(help="Link social-care and hospital records to GP patients (person index).")
keys_app = typer.Typer(help="Per-purpose pseudonymisation keys (create, rotate, list).", no_args_is_help=True)

_STEPS = ("prepare", "deterministic", "probabilistic", "write index")


def _fail(err: CarecommonsError) -> typer.Exit:
    console.print(f"[red]error[/red] {err}")
    return typer.Exit(2)


def _quiet_splink() -> None:
    """Splink logs training warnings per level; the CLI shows its own summary instead."""
    for name in ("splink", "py4j", "pyspark"):
        logging.getLogger(name).setLevel(logging.ERROR)


@link_app.callback(invoke_without_command=True)
def link_command(
    ctx: typer.Context,
    store: Path | None = typer.Option(
        None, "--store", help="Record store file (default: CARECOMMONS_HOME/store.duckdb)."
    ),
    backend: str = typer.Option("duckdb", "--backend", help="duckdb (one machine) or spark (local or cluster)."),
    threshold: float = typer.Option(0.9, "--threshold", help="Minimum match probability for a probabilistic link."),
    truth: Path | None = typer.Option(
        None,
        "--truth",
        help="Ground truth CSV (feed,record_id,patient_id); default: sources/truth/identity.csv if present.",
    ),
    reuse_model: bool = typer.Option(False, "--reuse-model", help="Score with the last trained model; skip training."),
) -> None:
    """Build the person index: NHS-number matches first, then Splink for the rest."""
    if ctx.invoked_subcommand is not None:
        return
    from carecommons.identity.evaluation import evaluate_against_truth
    from carecommons.identity.linkage import latest_model, run_linkage
    from carecommons.store.analytics import connect

    _quiet_splink()
    store_path = store or paths.store_path()
    if not store_path.exists():
        raise _fail(
            CarecommonsError(str(store_path), "no record store here", "run `carecommons ingest` first or pass --store")
        )
    try:
        con = connect(store_path)
        trained = latest_model(con) if reuse_model else None
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("linking", total=len(_STEPS))
            seen: list[str] = []

            def on_step(name: str) -> None:
                if seen:
                    bar.advance(task)
                seen.append(name)
                bar.update(task, description=name)

            result = run_linkage(con, backend=backend, threshold=threshold, trained_model=trained, on_step=on_step)
            bar.update(task, completed=len(_STEPS), description="done")
    except CarecommonsError as err:
        raise _fail(err) from err

    table = Table(title=f"Person index ({result.run_id}, {result.backend})")
    for col in ("feed", "gp_record", "nhs_number", "probabilistic", "unlinked", "linked %"):
        table.add_column(col, justify="left" if col == "feed" else "right")
    for feed, methods in sorted(result.counts.items()):
        total = sum(methods.values())
        linked = total - methods.get("unlinked", 0)
        table.add_row(
            feed,
            *(f"{methods.get(m, 0):,}" for m in ("gp_record", "nhs_number", "probabilistic", "unlinked")),
            f"{100 * linked / total:.1f}" if total else "-",
        )
    console.print(table)
    console.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))

    truth_path = truth or (paths.sources_dir() / "truth" / "identity.csv")
    if truth is not None or truth_path.is_file():
        try:
            m = evaluate_against_truth(con, truth_path)
        except CarecommonsError as err:
            raise _fail(err) from err
        console.print(
            f"against truth ({truth_path}): precision {m.precision:.4f}, recall {m.recall:.4f}, F1 {m.f1:.4f} "
            f"(TP {m.true_positives:,}, FP {m.false_positives:,}, FN {m.false_negatives:,}; "
            f"{m.not_in_index:,} truth records not loaded)"
        )


@link_app.command("explain")
def explain_command(
    record_id: str = typer.Argument(..., help="A social-care or hospital record id."),
    feed: str | None = typer.Option(None, "--feed", help="social_care or hospital, if the id is ambiguous."),
    patient: int | None = typer.Option(None, "--patient", help="Explain against this GP patient instead of the link."),
    chart: Path | None = typer.Option(None, "--chart", help="Also write the waterfall chart (.html, .svg or .png)."),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
    store: Path | None = typer.Option(None, "--store", help="Record store file."),
) -> None:
    """Why a record was linked: the match weight, term by term (prior + each comparison = total)."""
    from carecommons.identity.explain import explain_pair, explain_record, save_waterfall_chart
    from carecommons.identity.person_index import person_for_record
    from carecommons.store.analytics import connect

    _quiet_splink()
    try:
        con = connect(store or paths.store_path())
        if patient is None:
            e = explain_record(con, record_id, feed)
        else:
            entry = person_for_record(con, record_id, feed)
            e = explain_pair(con, patient, entry.feed, entry.record_id)
        if chart is not None:
            save_waterfall_chart(e, chart)
    except CarecommonsError as err:
        raise _fail(err) from err
    if as_json:
        payload = {
            "feed": e.feed,
            "record_id": e.record_id,
            "patient_id": e.patient_id,
            "method": e.method,
            "run_id": e.run_id,
            "prior_weight": e.prior_weight,
            "comparisons": [c.__dict__ for c in e.comparisons],
            "match_weight": e.match_weight,
            "match_probability": e.match_probability,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{e.feed} {e.record_id} vs GP patient {e.patient_id} ({e.method}, run {e.run_id})")
    for col in ("term", "level", "m", "u", "weight"):
        table.add_column(col, justify="right" if col in ("m", "u", "weight") else "left")
    table.add_row("prior", "any GP patient", "", "", f"{e.prior_weight:+.2f}")
    for c in e.comparisons:
        table.add_row(
            c.comparison,
            c.level,
            "" if c.m_probability is None else f"{c.m_probability:.3g}",
            "" if c.u_probability is None else f"{c.u_probability:.3g}",
            f"{c.match_weight:+.2f}",
        )
    table.add_row("[bold]total[/bold]", "", "", "", f"[bold]{e.match_weight:+.2f}[/bold]")
    console.print(table)
    console.print(f"match probability {e.match_probability:.6f}")
    if chart is not None:
        console.print(f"waterfall chart written to {chart}")


@keys_app.command("create")
def keys_create(
    purpose: str = typer.Argument(..., help="Purpose name, e.g. planning or research."),
    keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Key directory (default: CARECOMMONS_KEYS_DIR)."),
) -> None:
    """Create the first key of a purpose, or rotate to a new version (old versions are kept)."""
    from carecommons.identity.keys import create_key
    from carecommons.identity.keys import keys_dir as resolve

    try:
        version = create_key(purpose, keys_dir)
    except CarecommonsError as err:
        raise _fail(err) from err
    console.print(f"key {purpose} v{version} written to {resolve(keys_dir) / purpose} (mode 0600)")


@keys_app.command("list")
def keys_list(
    keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Key directory (default: CARECOMMONS_KEYS_DIR)."),
) -> None:
    """List purposes and their key versions (never the keys)."""
    from carecommons.identity.keys import list_keys

    held = list_keys(keys_dir)
    if not held:
        console.print("no keys yet: `carecommons keys create planning`")
        return
    for purpose, versions in held.items():
        console.print(f"{purpose}: " + ", ".join(f"v{v}" for v in versions) + f" (current v{versions[-1]})")
