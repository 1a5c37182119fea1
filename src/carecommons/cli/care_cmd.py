"""`carecommons care ...`: deliver the invitation outbox through a sender, and show what is in it.

Delivery is a separate, repeatable step from queuing (the practice presses "invite" in the web app): run it
from cron or by hand. Messages go to a spool directory (one file per message) for a print supplier or an SMS
gateway's file drop; nothing here sends a real SMS. Output names counts and message ids, never message text.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carecommons.core.errors import CarecommonsError

care_app = typer.Typer(help="Care: deliver queued invitations (SMS/letter outbox).", no_args_is_help=True)


def _session():
    from carecommons.core.paths import operational_url
    from carecommons.store.migrate import upgrade
    from carecommons.store.operational import make_engine, make_sessionmaker

    url = operational_url()
    upgrade(url)
    return make_sessionmaker(make_engine(url))()


@care_app.command("deliver")
def deliver_command(
    spool: Path = typer.Option(None, help="Spool directory (default: CARECOMMONS_HOME/outbox)."),
    channel: str = typer.Option(None, help="Only this channel: sms or letter."),
    batch: int = typer.Option(200, min=1, max=10_000, help="Messages per transaction batch."),
    retry_failed: bool = typer.Option(False, help="Also retry failed messages still under the attempt limit."),
) -> None:
    """Write every queued message to the spool directory, marking each sent (or failed, to retry later)."""
    from carecommons.care.outbox import FileSender, deliver, outbox_counts
    from carecommons.core.paths import home

    console = Console(stderr=True)
    sender = FileSender(spool or home() / "outbox")
    try:
        with _session() as session:
            counts = outbox_counts(session)
            total = sum(n for (ch, st), n in counts.items() if st == "queued" and (channel is None or ch == channel))
            if retry_failed:
                total += sum(
                    n for (ch, st), n in counts.items() if st == "failed" and (channel is None or ch == channel)
                )
            sent = failed = 0
            with Progress(
                TextColumn("delivering"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
            ) as progress:
                task = progress.add_task("deliver", total=total)
                while True:
                    report = deliver(session, sender, limit=batch, channel=channel, retry_failed=retry_failed)
                    done = report.sent + report.failed
                    sent, failed = sent + report.sent, failed + report.failed
                    progress.advance(task, done)
                    if done == 0 or (retry_failed and report.remaining == 0) or sent + failed >= total:
                        break
    except CarecommonsError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from err
    typer.echo(f"sent {sent}, failed {failed}; spool {sender.spool_dir}")
    if failed:
        raise typer.Exit(2)


@care_app.command("outbox")
def outbox_command() -> None:
    """Messages in the outbox by channel and status."""
    from carecommons.care.outbox import outbox_counts

    with _session() as session:
        counts = outbox_counts(session)
    table = Table(title="Invitation outbox")
    for col in ("channel", "status", "messages"):
        table.add_column(col)
    for (ch, st), n in sorted(counts.items()):
        table.add_row(ch, st, str(n))
    Console().print(table)
