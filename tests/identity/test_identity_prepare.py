from __future__ import annotations

import datetime as dt

import duckdb

from carecommons.identity.prepare import prepare_inputs
from carecommons.store.analytics import connect


def test_prepared_columns_are_standardised_and_one_row_per_record_id(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    con.execute(
        "INSERT INTO patients (patient_id, nhs_number, given_name, family_name, date_of_birth, sex, postcode, "
        "practice_id, load_id) VALUES (7, '9434765919', 'Bill', 'O''Brien', DATE '1950-04-03', 'M', 'se154lt', 'P1', 'l')"
    )
    rows = [
        # the same trust record id on three discharges: keep the one with an NHS number, newest first
        ("H1", None, "Wm", "Obrien", dt.date(2026, 3, 1)),
        ("H1", "943 476 5919", "William", "O'Brien", dt.date(2025, 1, 1)),
        ("H1", "943-476-5919", "Will", "O Brien", dt.date(2026, 1, 1)),
        ("H2", "123", "Ann", "Lee", None),
    ]
    for rid, nhs, given, family, discharged in rows:
        con.execute(
            "INSERT INTO hospital_records (record_id, nhs_number, given_name, family_name, date_of_birth, sex, "
            "postcode, trust_code, discharge_date, load_id) VALUES ($1, $2, $3, $4, DATE '1950-04-03', 'm', "
            "'SE15 4LT', 'RAL', $5, 'l')",
            [rid, nhs, given, family, discharged],
        )
    paths = prepare_inputs(con, tmp_path / "prep", feeds=("hospital",))
    q = duckdb.connect()
    gp = q.execute(f"SELECT * FROM read_parquet('{paths['gp']}')").fetchall()
    cols = [d[0] for d in q.description]
    gp_row = dict(zip(cols, gp[0], strict=True))
    assert gp_row["given_name"] == "BILL" and gp_row["given_canon"] == "WILLIAM"
    assert gp_row["family_name"] == "OBRIEN" and gp_row["family_sx"] == "O165"
    assert gp_row["postcode"] == "SE15 4LT" and gp_row["pc_sector"] == "SE15 4" and gp_row["pc_district"] == "SE15"
    assert gp_row["dob"] == "1950-04-03" and gp_row["yob"] == "1950" and gp_row["nhs_valid"] is True

    feeds = q.execute(
        f"SELECT unique_id, record_id, nhs_number, nhs_valid, given_name, sex FROM read_parquet('{paths['feeds']}') "
        "ORDER BY 1"
    ).fetchall()
    assert feeds == [
        ("hospital:H1", "H1", "9434765919", True, "WILL", "M"),
        ("hospital:H2", "H2", None, False, "ANN", "M"),
    ]
