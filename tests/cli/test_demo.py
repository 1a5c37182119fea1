"""The README's main job, end to end on a small city: synth -> ingest -> link -> run -> accounts."""

import duckdb
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from carecommons.cli.main import app


@pytest.mark.slow
def test_demo_builds_every_store_without_serving(carecommons_home):
    result = CliRunner().invoke(app, ["demo", "--patients", "1000", "--seed", "3", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "password for all" in result.output

    con = duckdb.connect(str(carecommons_home / "store.duckdb"), read_only=True)
    patients = con.execute("SELECT count(*) FROM patients").fetchone()[0]
    assert 900 <= patients <= 1100
    # received = loaded + quarantined for every file, and the deliberate faults were caught
    assert con.execute("SELECT count(*) FROM load_manifest WHERE received <> loaded + quarantined").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM person_index").fetchone()[0] >= patients
    assert con.execute("SELECT count(DISTINCT index_date) FROM results_patient").fetchone()[0] == 24
    con.close()

    engine = sa.create_engine(f"sqlite:///{carecommons_home / 'operational.sqlite'}")
    with engine.connect() as c:
        roles = {r[0] for r in c.execute(sa.text("SELECT DISTINCT role FROM gov_users"))}
    assert {"gp", "analyst", "ig_lead", "patient"} <= roles

    # second run: the same sources are not regenerated and nothing is loaded twice
    again = CliRunner().invoke(app, ["demo", "--patients", "1000", "--seed", "3", "--no-serve"])
    assert again.exit_code == 0, again.output
    assert "skipping" in again.output
    con = duckdb.connect(str(carecommons_home / "store.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM patients").fetchone()[0] == patients
    con.close()
