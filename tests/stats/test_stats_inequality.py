"""SII/RII and rate ratios on hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.stats.inequality import imd_quintile, mid_ranks, rate_ratios, sii


def test_mid_ranks() -> None:
    assert mid_ranks([1, 1, 2]).tolist() == pytest.approx([0.125, 0.375, 0.75])


def test_equal_quintiles_linear_gradient() -> None:
    # quintiles at ranks 0.1..0.9; values rise 10 per quintile = 50 per unit rank; exact fit -> zero-width CI
    result = sii([10, 20, 30, 40, 50], [1, 1, 1, 1, 1])
    assert result.sii == pytest.approx(50)
    assert result.rii == pytest.approx(50 / 30)
    assert result.sii_lower == pytest.approx(50) and result.sii_upper == pytest.approx(50)


def test_unequal_groups_by_hand() -> None:
    # populations 1,1,2 -> shares .25,.25,.5 -> ranks .125,.375,.75; values 10,20,35.
    # weighted means x = .5, y = 25; Sxy = .25*(-.375)(-15) + .25*(-.125)(-5) + .5*(.25)(10) = 2.8125;
    # Sxx = .25*.140625 + .25*.015625 + .5*.0625 = .0703125; slope = 40 (an exact fit: no residual spread).
    result = sii([10, 20, 35], [100, 100, 200])
    assert result.sii == pytest.approx(40)
    assert result.rii == pytest.approx(40 / 25)
    assert result.sii_lower == pytest.approx(40) and result.sii_upper == pytest.approx(40)
    noisy = sii([10, 24, 35], [100, 100, 200])
    assert noisy.sii_lower < noisy.sii < noisy.sii_upper


def test_simulated_interval_covers_and_is_reproducible() -> None:
    a = sii([10, 20, 30, 40, 50], [1, 1, 1, 1, 1], se=[2, 2, 2, 2, 2])
    b = sii([10, 20, 30, 40, 50], [1, 1, 1, 1, 1], se=[2, 2, 2, 2, 2])
    assert a == b
    # analytic SE of the slope with known group SEs: sqrt(4 / sum((x - .5)^2)) = sqrt(4/0.4); 95% -/+ 1.96 * that
    half = 1.959964 * math.sqrt(4 / 0.4)
    assert a.sii_lower == pytest.approx(50 - half, rel=0.03)
    assert a.sii_upper == pytest.approx(50 + half, rel=0.03)


def test_no_gradient() -> None:
    assert sii([30, 30, 30], [5, 1, 9]).sii == pytest.approx(0.0, abs=1e-12)


def test_rate_ratios_katz_by_hand() -> None:
    # 20/100 vs reference 10/100: RR = 2; se(log RR) = sqrt(1/20 - 1/100 + 1/10 - 1/100) = sqrt(0.13)
    out = rate_ratios([20, 10, 0], [100, 100, 50], ["Asian", "White", "Other"], "White").set_index("group")
    se = math.sqrt(0.13)
    assert out.loc["Asian", "ratio"] == pytest.approx(2.0)
    assert out.loc["Asian", "lower"] == pytest.approx(2 * math.exp(-1.959964 * se), rel=1e-6)
    assert out.loc["Asian", "upper"] == pytest.approx(2 * math.exp(1.959964 * se), rel=1e-6)
    assert out.loc["White", "ratio"] == 1.0
    assert out.loc["Other", "ratio"] == 0.0 and np.isnan(out.loc["Other", "lower"])


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInput):
        sii([1, 2], [1, 1])
    with pytest.raises(InvalidInput):
        rate_ratios([1, 0], [10, 10], ["a", "b"], "b")


def test_imd_quintile() -> None:
    assert imd_quintile(range(1, 11)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(InvalidInput):
        imd_quintile([0])
