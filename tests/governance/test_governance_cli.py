"""The governance commands as an operator runs them."""

from __future__ import annotations

import duckdb
from gov_testdata import build_store
from sqlalchemy import text
from typer.testing import CliRunner

from carecommons.cli.main import app
from carecommons.governance import audit
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.operational import make_engine, make_sessionmaker

runner = CliRunner()


def test_audit_verify_show_and_tamper(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'op.sqlite'}"
    monkeypatch.setenv("CARECOMMONS_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal, so table cells are not wrapped
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(url)
    gp = Requester(user_id="gp.a1", role="gp", org_id="A1", purpose=Purpose.DIRECT_CARE)
    with make_sessionmaker(engine)() as s:
        audit.record(s, gp, "read_record", [7, 8], detail="summary")
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "2 entries" in ok.output
    shown = runner.invoke(app, ["audit", "show", "--patient", "7"])
    assert shown.exit_code == 0 and "read_record" in shown.output and "gp.a1" in shown.output
    with engine.begin() as conn:
        conn.execute(text("UPDATE gov_audit_log SET action = 'nothing' WHERE seq = 2"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "entry 2" in broken.output
    engine.dispose()


def test_seed_demo_and_ndop_load(tmp_path, monkeypatch, fast_password_hashing):
    monkeypatch.setenv("CARECOMMONS_DATABASE_URL", f"sqlite:///{tmp_path / 'op.sqlite'}")
    store = tmp_path / "store.duckdb"
    con = duckdb.connect(str(store))
    build_store(con)
    con.close()
    seeded = runner.invoke(app, ["governance", "seed-demo", "--store", str(store)])
    assert seeded.exit_code == 0, seeded.output
    assert "carecommons-demo" in seeded.output and "gp.a1" in seeded.output
    ndop = tmp_path / "ndop.csv"
    ndop.write_text("nhs_number\n9434765919\n4010232137\n")
    assert "2 National Data Opt-outs" in runner.invoke(app, ["governance", "ndop-load", str(ndop)]).output
    ndop.write_text("nhs_number\n9434765918\n")  # bad check digit: refused by line, number not echoed
    bad = runner.invoke(app, ["governance", "ndop-load", str(ndop)])
    assert bad.exit_code == 2 and "entry 1" in bad.output and "9434765918" not in bad.output
