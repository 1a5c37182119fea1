"""Wilson intervals checked against Newcombe's published worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecommons.core.errors import InvalidInput
from carecommons.stats.proportions import wilson, z_for


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        # Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of seven methods.
        # Stat Med 1998;17:857-872, Table II, method 3 (Wilson score interval without continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_newcombe_examples(k: int, n: int, lower: float, upper: float) -> None:
    ci = wilson([k], [n])
    assert ci.lower[0] == pytest.approx(lower, abs=5e-5)
    assert ci.upper[0] == pytest.approx(upper, abs=5e-5)
    assert ci.estimate[0] == pytest.approx(k / n)


def test_vectorised_and_bounded() -> None:
    ci = wilson([0, 5, 10], [10, 10, 10])
    assert (ci.lower >= 0).all() and (ci.upper <= 1).all()
    assert ci.upper[2] == 1.0 and ci.lower[0] == 0.0
    assert np.all(ci.lower <= ci.estimate) and np.all(ci.estimate <= ci.upper)


def test_zero_denominator_is_nan_and_bad_input_rejected() -> None:
    assert np.isnan(wilson([0], [0]).estimate[0])
    with pytest.raises(InvalidInput):
        wilson([5], [4])
    with pytest.raises(InvalidInput):
        wilson([1, 2], [3])


def test_z_values() -> None:
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_for(0.998) == pytest.approx(3.090232, abs=1e-6)


@given(st.integers(min_value=1, max_value=100_000), st.data())
def test_interval_always_contains_estimate_and_stays_in_unit_range(n: int, data) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    ci = wilson([k], [n], confidence=0.998)
    assert 0 <= ci.lower[0] <= ci.estimate[0] <= ci.upper[0] <= 1
