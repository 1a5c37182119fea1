"""The `carecommons` command. Each layer contributes its commands from its own cli module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="carecommons",
    help="Carecommons: London's GP records turned into proactive, patient-centred care.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals could hold patient values
)


@app.callback()
def _root() -> None:
    """Carecommons command line."""


@app.command()
def version() -> None:
    """Print the installed version."""
    from carecommons import __version__

    typer.echo(__version__)


# Sub-commands are registered below, one line per layer module (keep imports pointing down).
from carecommons.cli import governance_cmd  # noqa: E402

app.add_typer(governance_cmd.db_app, name="db")
app.add_typer(governance_cmd.audit_app, name="audit")
app.add_typer(governance_cmd.gov_app, name="governance")

from carecommons.cli import ingest_cmd  # noqa: E402

app.command("ingest")(ingest_cmd.ingest_command)
app.command("quarantine")(ingest_cmd.quarantine_command)
app.command("dq")(ingest_cmd.dq_command)

from carecommons.cli import synth_cmd  # noqa: E402

app.command("synth")(synth_cmd.synth_command)

from carecommons.cli import risk_cmd  # noqa: E402

app.add_typer(risk_cmd.risk_app, name="risk")

from carecommons.cli import web_cmd  # noqa: E402

app.command("serve")(web_cmd.serve_command)
app.add_typer(web_cmd.web_app, name="web")

from carecommons.cli import identity_cmd  # noqa: E402

app.add_typer(identity_cmd.link_app, name="link")
app.add_typer(identity_cmd.keys_app, name="keys")

from carecommons.cli import demo_cmd  # noqa: E402

app.command("demo")(demo_cmd.demo_command)

from carecommons.cli import care_cmd  # noqa: E402

app.add_typer(care_cmd.care_app, name="care")

from carecommons.cli import definitions_cmd  # noqa: E402

app.command("run")(definitions_cmd.run_cmd)
app.add_typer(definitions_cmd.definitions_app, name="definitions")
