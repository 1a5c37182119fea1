from __future__ import annotations

import json

import pyarrow.csv as pacsv
from typer.testing import CliRunner

from carecommons.cli.main import app

runner = CliRunner()


def test_link_then_explain_from_the_command_line(make_store, tmp_path, carecommons_home):
    fx = make_store(n_gp=1200, n_feed=250, seed=3)
    store = fx.con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[
        0
    ][0]
    fx.con.close()
    truth = tmp_path / "identity.csv"
    pacsv.write_csv(fx.truth, truth)

    result = runner.invoke(app, ["link", "--store", store, "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "social_care" in result.output and "hospital" in result.output
    assert "precision" in result.output and "F1" in result.output

    from carecommons.store.analytics import connect

    con = connect(store, read_only=True)
    record_id = con.execute(
        "SELECT record_id FROM person_index WHERE method = 'probabilistic' ORDER BY record_id LIMIT 1"
    ).fetchall()[0][0]
    names = con.execute(
        "SELECT given_name, family_name FROM social_care_records WHERE record_id = $1 "
        "UNION ALL SELECT given_name, family_name FROM hospital_records WHERE record_id = $1",
        [record_id],
    ).fetchall()[0]
    con.close()

    chart = tmp_path / "w.svg"
    shown = runner.invoke(app, ["link", "explain", record_id, "--store", store, "--chart", str(chart)])
    assert shown.exit_code == 0, shown.output
    assert "prior" in shown.output and "total" in shown.output and chart.exists()
    for name in names:
        assert name not in shown.output

    as_json = runner.invoke(app, ["link", "explain", record_id, "--store", store, "--json"])
    payload = json.loads(as_json.output)
    terms = payload["prior_weight"] + sum(c["match_weight"] for c in payload["comparisons"])
    assert abs(terms - payload["match_weight"]) < 1e-9

    missing = runner.invoke(app, ["link", "explain", "NO-SUCH", "--store", store])
    assert missing.exit_code == 2 and "record_id" in missing.output


def test_link_without_a_store_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["link", "--store", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert "carecommons ingest" in result.output


def test_keys_create_rotate_and_list(tmp_path):
    kdir = tmp_path / "keys"
    assert runner.invoke(app, ["keys", "create", "planning", "--keys-dir", str(kdir)]).exit_code == 0
    assert runner.invoke(app, ["keys", "create", "planning", "--keys-dir", str(kdir)]).exit_code == 0
    listed = runner.invoke(app, ["keys", "list", "--keys-dir", str(kdir)])
    assert "planning: v1, v2 (current v2)" in listed.output
    key_hex = (kdir / "planning" / "v2.key").read_text().strip()
    assert key_hex not in listed.output
    bad = runner.invoke(app, ["keys", "create", "Bad Name", "--keys-dir", str(kdir)])
    assert bad.exit_code == 2
