"""London practices placed in PCNs, boroughs and ICBs from the shipped reference data."""

from __future__ import annotations

import pandas as pd

from carecommons.core.orgs import ICBS
from carecommons.core.schema import PRACTICES
from carecommons.reference.organisations import PCN_MAX, PCN_MIN, borough_lsoas, borough_params, london_practices


def test_columns_ids_and_totals():
    df = london_practices()
    assert list(df.columns) == PRACTICES.column_names
    assert df["practice_id"].is_unique and len(df) > 1150
    # ldn_practices.csv lists ~10.1 million registered patients (README: 10.66 million across all London lists).
    assert 9_900_000 < df["list_size"].sum() < 10_800_000
    assert set(df["icb"]) == set(ICBS)
    assert df["borough"].nunique() == 33


def test_borough_icb_agrees_with_reference_and_ccg():
    df = london_practices()
    params = borough_params()
    assert (df["icb"] == df["borough"].map(lambda b: params[b]["icb"])).all()
    raw = pd.read_csv("src/carecommons/reference/data/reference/gp_pop_data.csv", dtype=str).set_index("CODE")
    ccg_icb = (
        raw["CCG_CODE"]
        .reindex(df["practice_id"])
        .map({"93C": "NCL", "A3A8R": "NEL", "W2U3Z": "NWL", "72Q": "SEL", "36L": "SWL"})
    )
    known = ccg_icb.notna().to_numpy()
    assert (ccg_icb.to_numpy()[known] == df["icb"].to_numpy()[known]).all()


def test_borough_list_totals_are_close_to_modelled_populations():
    df = london_practices()
    params = borough_params()
    totals = df.groupby("borough")["list_size"].sum()
    target = pd.Series({b: params[b]["registered_residents_apr2020_modelled"] for b in totals.index})
    ratio = totals / (target / target.sum() * totals.sum())
    big = target > 100_000  # the City (9k residents, one 14k practice) is a special case
    assert ratio[big].between(0.75, 1.3).all(), ratio[big].sort_values()


def test_pcns_sit_within_one_borough_and_mostly_30_to_50k():
    df = london_practices()
    assert (df.groupby("pcn_id")["borough"].nunique() == 1).all()
    sizes = df.groupby("pcn_id")["list_size"].sum()
    in_band = sizes.between(PCN_MIN, PCN_MAX)
    assert in_band.mean() > 0.9
    # Outside the band only by a bounded amount (contiguous groups along the bearing order cannot always fit),
    # apart from the City of London's single practice.
    others = sizes.drop("PCN-CITY-OF-LONDON-01")
    assert others.between(0.7 * PCN_MIN, 1.4 * PCN_MAX).all(), others[~others.between(0.7 * PCN_MIN, 1.4 * PCN_MAX)]


def test_deterministic():
    pd.testing.assert_frame_equal(london_practices(), london_practices())


def test_borough_lsoas():
    df = borough_lsoas()
    assert list(df.columns) == ["lsoa", "borough", "imd_decile"]
    assert df["borough"].nunique() == 33 and df["lsoa"].is_unique
    assert df["imd_decile"].between(1, 10).all()
    # Tower Hamlets is among London's most deprived boroughs, Richmond among the least.
    mean = df.groupby("borough")["imd_decile"].mean()
    assert mean["Tower Hamlets"] < mean["Richmond upon Thames"] - 3
