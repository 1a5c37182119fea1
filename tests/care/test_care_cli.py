"""`carecommons care deliver` and `care outbox` on a real (SQLite) operational database."""

from __future__ import annotations

from typer.testing import CliRunner

from carecommons.cli.main import app
from carecommons.core.paths import operational_url
from carecommons.store.migrate import upgrade
from carecommons.store.models.care import OutboxMessage
from carecommons.store.operational import make_engine, make_sessionmaker


def _queue(n: int) -> None:
    url = operational_url()
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        for i in range(n):
            s.add(
                OutboxMessage(
                    patient_id=500 + i,
                    practice_id="P1",
                    channel="sms" if i % 2 else "letter",
                    template_id="review",
                    rendered_text=f"Dear Zed{i}, please book a review.",
                    segments=1,
                    status="queued",
                    idempotency_key=f"k{i}",
                )
            )
        s.commit()
    engine.dispose()


def test_deliver_spools_every_queued_message_without_printing_text(carecommons_home):
    _queue(5)
    runner = CliRunner()
    result = runner.invoke(app, ["care", "deliver", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "sent 5, failed 0" in result.output and "Zed" not in result.output
    spooled = sorted(p.name for p in (carecommons_home / "outbox").rglob("*.txt"))
    assert len(spooled) == 5
    assert (carecommons_home / "outbox" / "sms").is_dir() and (carecommons_home / "outbox" / "letter").is_dir()
    again = runner.invoke(app, ["care", "deliver"])
    assert "sent 0, failed 0" in again.output
    table = runner.invoke(app, ["care", "outbox"])
    assert table.exit_code == 0 and "sent" in table.output and "queued" not in table.output


def test_deliver_reports_failures_with_exit_code_2(carecommons_home):
    _queue(1)
    blocker = carecommons_home / "outbox"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")  # the spool cannot be created
    result = CliRunner().invoke(app, ["care", "deliver"])
    assert result.exit_code == 2 and "failed 1" in result.output
