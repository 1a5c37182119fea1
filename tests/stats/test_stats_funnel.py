"""Funnel limits: hand-worked normal and exact (Spiegelhalter 2005 interpolation) limits and overdispersion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.stats.funnel import classify, limits, overdispersion, winsorise


def test_normal_limits_by_hand() -> None:
    # target 0.5, n = 100: se = 0.05; 95% = 0.5 -/+ 1.95996*0.05; 99.8% = 0.5 -/+ 3.09023*0.05
    out = limits([100], 0.5).iloc[0]
    assert out["lower_95"] == pytest.approx(0.5 - 1.959964 * 0.05, abs=1e-6)
    assert out["upper_95"] == pytest.approx(0.5 + 1.959964 * 0.05, abs=1e-6)
    assert out["lower_99_8"] == pytest.approx(0.5 - 3.090232 * 0.05, abs=1e-6)
    assert out["upper_99_8"] == pytest.approx(0.5 + 3.090232 * 0.05, abs=1e-6)


def test_exact_binomial_limit_with_interpolation_by_hand() -> None:
    # n = 10, target 0.5, lower 95% at p = 0.025: P(R<=1) = 11/1024, P(R<=2) = 56/1024 so r_p = 2;
    # alpha = (56/1024 - 0.025) / (45/1024); limit = (2 - alpha) / 10  (Spiegelhalter 2005, appendix A.1.1)
    alpha = (56 / 1024 - 0.025) / (45 / 1024)
    out = limits([10], 0.5, method="exact").iloc[0]
    assert out["lower_95"] == pytest.approx((2 - alpha) / 10, abs=1e-9)
    # upper at p = 0.975: P(R<=7) = 968/1024, P(R<=8) = 1013/1024 so r_p = 8
    alpha_hi = (1013 / 1024 - 0.975) / (45 / 1024)
    assert out["upper_95"] == pytest.approx((8 - alpha_hi) / 10, abs=1e-9)


def test_exact_approaches_normal_for_large_n() -> None:
    exact = limits([100_000], 0.3, method="exact").iloc[0]
    normal = limits([100_000], 0.3).iloc[0]
    assert exact["upper_99_8"] == pytest.approx(normal["upper_99_8"], abs=2e-4)


def test_limits_narrow_as_denominator_grows() -> None:
    out = limits([50, 500, 5000], 0.2)
    assert np.all(np.diff(out["upper_95"]) < 0) and np.all(np.diff(out["lower_95"]) > 0)
    assert np.all(out["upper_99_8"] > out["upper_95"])


def test_winsorise_ten_percent() -> None:
    assert winsorise([-4, -2, -1, -0.4, 0, 0, 0.4, 1, 2, 5]).tolist() == [-2, -2, -1, -0.4, 0, 0, 0.4, 1, 2, 2]


def test_overdispersion_hand_worked() -> None:
    # 10 units of n = 100 against target 0.5 (se 0.05): z = -4,-2,-1,-0.4,0,0,0.4,1,2,5; winsorised 10%:
    # -2,-2,-1,-0.4,0,0,0.4,1,2,2; sum z^2 = 18.32, phi = 1.832; I*phi = 18.32 > I-1 = 9.
    # w = 1/0.0025 = 400 each: sum w = 4000, sum w^2 / sum w = 400; tau^2 = (18.32 - 9) / 3600.
    p = np.array([0.30, 0.40, 0.45, 0.48, 0.50, 0.50, 0.52, 0.55, 0.60, 0.75])
    od = overdispersion(p * 100, [100] * 10, 0.5)
    assert od.phi == pytest.approx(1.832)
    assert od.tau2 == pytest.approx(9.32 / 3600)
    assert od.overdispersed
    additive = limits([100], 0.5, dispersion=od).iloc[0]
    assert additive["upper_95"] == pytest.approx(0.5 + 1.959964 * math.sqrt(0.0025 + 9.32 / 3600), abs=1e-6)
    multiplicative = limits([100], 0.5, dispersion=od, adjustment="multiplicative").iloc[0]
    assert multiplicative["upper_95"] == pytest.approx(0.5 + 1.959964 * math.sqrt(1.832) * 0.05, abs=1e-6)


def test_no_adjustment_without_overdispersion() -> None:
    p = np.array([0.48, 0.49, 0.50, 0.50, 0.51, 0.52])
    od = overdispersion(p * 100, [100] * 6, 0.5)
    assert not od.overdispersed and od.tau2 == 0.0
    assert limits([100], 0.5, dispersion=od).equals(limits([100], 0.5))


def test_classify_flags_outliers_against_pooled_target() -> None:
    out = classify([50, 50, 50, 90], [100, 100, 100, 100])
    assert out["target"].iloc[0] == pytest.approx(0.6)
    assert out["signal"].tolist() == ["below 95%", "below 95%", "below 95%", "above 99.8%"]


def test_bad_target_rejected() -> None:
    with pytest.raises(InvalidInput):
        limits([100], 1.5)
    with pytest.raises(InvalidInput):
        limits([100], 0.5, method="exact", dispersion=overdispersion([1, 2, 3], [10, 10, 10], 0.2))
