"""XmR limits by hand and each Making Data Count rule on series built to trigger exactly that rule."""

from __future__ import annotations

import pytest

from carecommons.core.errors import InvalidInput
from carecommons.stats.spc import Limits, analyse, assurance, xmr_limits

STABLE = [5, 7, 6, 8, 6, 7, 5, 6, 7, 6, 8, 7]


def test_xmr_limits_by_hand() -> None:
    # mean = 78/12 = 6.5; moving ranges 2,1,2,2,1,2,1,1,1,2,1 -> mean 16/11; limits = 6.5 -/+ 2.66 * 16/11
    # (2.66 = 3/1.128); no moving range exceeds 3.267 * 16/11, so screening changes nothing.
    lim = xmr_limits(STABLE)
    assert lim.mean == pytest.approx(6.5)
    assert lim.upper == pytest.approx(6.5 + 3 / 1.128 * 16 / 11)
    assert lim.lower == pytest.approx(6.5 - 3 / 1.128 * 16 / 11)


def test_moving_range_screening() -> None:
    # ranges 0,0,0,0,10,10,0,0: mean 2.5; upper range limit 3.267*2.5 = 8.17 excludes both 10s -> mean range 0
    series = [5, 5, 5, 5, 5, 15, 5, 5, 5]
    assert xmr_limits(series).sigma == 0.0
    assert xmr_limits(series, screen_outliers=False).sigma == pytest.approx(2.5 / 1.128)


def test_stable_process_is_common_cause() -> None:
    out = analyse(STABLE)
    assert not out["special_cause"].any()
    assert set(out["variation"]) == {"common cause"}


def test_point_outside_limits() -> None:
    out = analyse([*STABLE, 20], baseline=12, improvement="down")
    assert out["outside"].tolist() == [False] * 12 + [True]
    assert out["variation"].iloc[-1] == "concern"


def test_shift_of_seven_points() -> None:
    series = [*STABLE, 7, 7.2, 7.1, 7.3, 7.2, 7.1]  # STABLE ends 8, 7 (above the mean 6.5): a run of 8
    out = analyse(series, baseline=12, improvement="up")
    assert out["shift"].tolist() == [False] * 10 + [True] * 8
    assert (out["variation"].iloc[-7:] == "improvement").all()
    # six in a row is not a shift
    assert not analyse([*STABLE[:-1], 5, 7, 7.2, 7.1, 7.3, 7.2, 7.1], baseline=12)["shift"].any()


def test_trend_of_seven_points() -> None:
    series = [*STABLE, 5, 5.5, 6, 6.5, 7, 7.5, 8]
    out = analyse(series, baseline=12, improvement="down")
    assert out["trend"].tolist()[-7:] == [True] * 7
    assert not out["trend"].iloc[:12].any()
    assert (out["variation"].iloc[-7:] == "concern").all()  # rising while lower is better


def test_two_out_of_three_near_the_limit() -> None:
    lim = xmr_limits(STABLE)
    near = lim.mean + 2.5 * lim.sigma  # beyond 2 sigma, inside 3 sigma
    out = analyse([*STABLE, near, 6.7, near], baseline=12)
    assert out["two_of_three"].tolist()[-3:] == [True, False, True]
    assert not out["outside"].any()
    assert out["variation"].iloc[-1] == "neutral high"
    # the middle point below the mean breaks the pattern
    assert not analyse([*STABLE, near, 6.0, near], baseline=12)["two_of_three"].any()


def test_assurance() -> None:
    lim = Limits(mean=80, sigma=2, lower=74, upper=86)
    assert assurance(lim, 70, "up") == "consistently passes"
    assert assurance(lim, 90, "up") == "consistently fails"
    assert assurance(lim, 80, "up") == "hit and miss"
    assert assurance(lim, 90, "down") == "consistently passes"


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInput):
        analyse([1.0])
    with pytest.raises(InvalidInput):
        analyse(STABLE, baseline=20)
    with pytest.raises(InvalidInput):
        analyse(STABLE, improvement="sideways")  # type: ignore[arg-type]
