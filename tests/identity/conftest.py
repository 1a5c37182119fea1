"""A seeded noisy linkage fixture: GP patients plus social-care and hospital feeds with known truth.

Built once per test session (linking takes a few seconds); tests must not change it. Three hand-made records test specific rules:
- SC-WRONGNHS: patient 11's details with patient 12's (valid) NHS number -> must not link to 12 by NHS number
- GP duplicate: patient 900001 shares patient 21's NHS number (registered twice) -> one person
- SC-NOGP: someone in no GP list -> unlinked
- hospital record "SC-WRONGNHS": the same id string in another feed (patient 11, correct NHS number)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pytest

from carecommons.identity.noise import gp_population, load_into_store, noisy_feed
from carecommons.store.analytics import connect

N_GP = 4000
N_FEED = 1000


@dataclass
class LinkFixture:
    con: duckdb.DuckDBPyConnection
    gp: pa.Table
    social_care: pa.Table
    hospital: pa.Table
    truth: pa.Table


def _row(table: pa.Table, patient_id: int) -> dict:
    return next(r for r in table.to_pylist() if r["patient_id"] == patient_id)


def build_store(path, n_gp: int = N_GP, n_feed: int = N_FEED, seed: int = 7) -> LinkFixture:
    gp = gp_population(n_gp, seed)
    sc, t_sc = noisy_feed(gp, n_feed, "social_care", seed + 1)
    hosp, t_h = noisy_feed(gp, n_feed, "hospital", seed + 2)
    p11, p12, p21 = _row(gp, 11), _row(gp, 12), _row(gp, 21)
    special = [
        {
            **{k: p11[k] for k in sc.column_names if k in p11},
            "record_id": "SC-WRONGNHS",
            "nhs_number": p12["nhs_number"],
        },
        {
            "record_id": "SC-NOGP",
            "nhs_number": None,
            "given_name": "ZEPHYRINE",
            "family_name": "QUILLFEATHER",
            "date_of_birth": dt.date(1931, 2, 3),
            "sex": "F",
            "postcode": "ZZ9 9ZZ",
        },
    ]
    sc = pa.concat_tables([sc, pa.Table.from_pylist(special, schema=sc.schema)])
    t_sc = pa.concat_tables(
        [
            t_sc,
            pa.table(
                {
                    "feed": ["social_care"] * 2,
                    "record_id": ["SC-WRONGNHS", "SC-NOGP"],
                    "patient_id": pa.array([11, None], pa.int64()),
                }
            ),
        ]
    )
    clash = {**{k: p11[k] for k in hosp.column_names if k in p11}, "record_id": "SC-WRONGNHS"}
    hosp = pa.concat_tables([hosp, pa.Table.from_pylist([clash], schema=hosp.schema)])
    t_h = pa.concat_tables(
        [t_h, pa.table({"feed": ["hospital"], "record_id": ["SC-WRONGNHS"], "patient_id": pa.array([11], pa.int64())})]
    )
    dup = {**p21, "patient_id": 900001, "postcode": "E1 6AN"}
    gp = pa.concat_tables([gp, pa.Table.from_pylist([dup], schema=gp.schema)])
    con = connect(path)
    load_into_store(con, gp, sc, hosp)
    return LinkFixture(con, gp, sc, hosp, pa.concat_tables([t_sc, t_h]))


@pytest.fixture(scope="session")
def linked(tmp_path_factory):
    """The fixture store after one DuckDB linkage run (threshold 0.9)."""
    from carecommons.identity.linkage import run_linkage

    fx = build_store(tmp_path_factory.mktemp("link") / "store.duckdb")
    result = run_linkage(fx.con, backend="duckdb")
    return fx, result


@pytest.fixture
def make_store(tmp_path):
    """Factory for a fresh fixture store: make_store(n_gp, n_feed, seed)."""

    def make(n_gp: int = 1000, n_feed: int = 200, seed: int = 11) -> LinkFixture:
        return build_store(tmp_path / f"store-{n_gp}-{n_feed}-{seed}.duckdb", n_gp, n_feed, seed)

    return make
