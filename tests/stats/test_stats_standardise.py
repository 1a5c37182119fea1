"""DSRs with Dobson intervals, checked by hand against published Poisson limits and the ESP 2013 table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.stats.standardise import ESP2013_WEIGHTS, dsr, dsr_table, esp_band, poisson_limits


def test_esp2013_table() -> None:
    # Eurostat 2013: 19 bands summing to 100,000, 5,000 at 0-4, 1,000 at 90+
    assert len(ESP2013_WEIGHTS) == 19 and sum(ESP2013_WEIGHTS) == 100_000
    assert ESP2013_WEIGHTS[0] == 5000 and ESP2013_WEIGHTS[-1] == 1000 and max(ESP2013_WEIGHTS) == 7000


def test_esp_band() -> None:
    assert esp_band([0, 4, 5, 89, 90, 104]).tolist() == [0, 0, 1, 17, 18, 18]


def test_exact_poisson_limits_match_published_table() -> None:
    # exact 95% limits for a Poisson count, e.g. PHE/APHO technical briefing tables: 10 -> 4.795-18.390,
    # 20 -> 12.217-30.888, 0 -> 0-3.689
    lo, hi = poisson_limits([10, 20, 0])
    assert lo == pytest.approx([4.7954, 12.2165, 0.0], abs=1e-3)
    assert hi == pytest.approx([18.3904, 30.8884, 3.6889], abs=1e-3)
    blo, bhi = poisson_limits([10], method="byar")
    assert blo[0] == pytest.approx(lo[0], rel=0.01) and bhi[0] == pytest.approx(hi[0], rel=0.01)


def test_hand_worked_dsr_with_dobson_interval() -> None:
    # Two ESP bands, 65-69 (weight 5500) and 70-74 (5000); 4 events in 1,000 and 6 in 1,500 people.
    # Both stratum rates are 400 per 100,000, so the DSR is 400.
    # Var = (5500^2*4/1000^2 + 5000^2*6/1500^2) / 10500^2 = 187.667/1.1025e8 per person^2.
    # Dobson: DSR + sqrt(Var/O) * (O_limit - O) with O = 10 and exact limits 4.7954 and 18.3904 (published table).
    var = (5500**2 * 4 / 1000**2 + 5000**2 * 6 / 1500**2) / 10500**2
    scale = math.sqrt(var / 10) * 100_000
    result = dsr([4, 6], [1000, 1500], [13, 14])
    assert result.rate == pytest.approx(400.0)
    assert result.lower == pytest.approx(400 + scale * (4.7954 - 10), abs=0.05)
    assert result.upper == pytest.approx(400 + scale * (18.3904 - 10), abs=0.05)
    assert result.observed == 10 and result.population == 2500 and result.reliable


def test_age_sex_standardisation_uses_esp_for_each_sex() -> None:
    # Men 10/1000 and women 20/1000 in one band: the age-sex standardised rate is their plain mean.
    result = dsr([10, 20], [1000, 1000], [13, 13], ["M", "F"], multiplier=1000)
    assert result.rate == pytest.approx(15.0)


def test_standardisation_removes_age_structure() -> None:
    # Two places with identical age-specific rates but opposite age structures get the same DSR
    rates = np.array([0.001, 0.01])
    young, old = np.array([9000, 1000]), np.array([1000, 9000])
    a = dsr(rates * young, young, [4, 15])
    b = dsr(rates * old, old, [4, 15])
    assert a.rate == pytest.approx(b.rate)
    assert (rates * young).sum() / young.sum() != pytest.approx((rates * old).sum() / old.sum())


def test_fewer_than_ten_events_flagged_unreliable_and_zero_events_has_no_upper() -> None:
    assert not dsr([3], [1000], [10]).reliable
    zero = dsr([0], [1000], [10])
    assert zero.rate == 0 and math.isnan(zero.upper)


def test_dsr_table_uses_common_standard() -> None:
    frame = pd.DataFrame(
        {
            "practice": ["A", "A", "B"],
            "band": [13, 14, 13],
            "observed": [4, 6, 4],
            "population": [1000, 1500, 1000],
        }
    )
    out = dsr_table(frame, ["practice"], sex=None).set_index("practice")
    assert out.loc["A", "rate"] == pytest.approx(400.0)
    # B has no one aged 70-74: that stratum counts as rate 0 in the common standard
    assert out.loc["B", "rate"] == pytest.approx(400 * 5500 / 10500)


def test_bad_strata_rejected() -> None:
    with pytest.raises(InvalidInput):
        dsr([1, 1], [10, 10], [3, 3])
    with pytest.raises(InvalidInput):
        dsr([1], [0], [3])
    with pytest.raises(InvalidInput):
        dsr([1], [10], [19])
