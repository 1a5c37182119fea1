"""XmR statistical process control charts with the NHS England "Making Data Count" (MDC) rules.

XmR: centre line = mean; sigma = mean moving range / 1.128 (d2 for n = 2); process limits = mean +/- 3 sigma
(= 2.66 x mean moving range). Before the limits are set, moving ranges above 3.267 x their mean (the upper range
limit) are screened out and the mean recomputed, as MDC recommends, so one wild point does not inflate the limits.

MDC special-cause rules (NHS England/Improvement, "Making Data Count: strengthening your decisions", 2019, and the
NHS-R NHSRplotthedots package that implements them): 1) a point outside the process limits; 2) a shift: a run of
7 or more consecutive points on the same side of the mean (a point on the mean breaks the run); 3) a trend: 7 or more
consecutive points each higher (or each lower) than the one before; 4) two out of three consecutive points close to a
limit (beyond 2 sigma) on the same side of the mean. Run lengths are parameters because older guidance used 6 or 8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from carecommons.core.errors import InvalidInput

D2 = 1.128
RANGE_LIMIT = 3.267
Improvement = Literal["up", "down"] | None


@dataclass(frozen=True)
class Limits:
    """Centre line, sigma and process limits of an XmR chart."""

    mean: float
    sigma: float
    lower: float
    upper: float


def xmr_limits(values: npt.ArrayLike, *, screen_outliers: bool = True) -> Limits:
    """Mean, sigma and 3-sigma natural process limits from a baseline series (at least 2 points)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2 or np.isnan(x).any():
        raise InvalidInput("values", "need at least 2 non-missing points", "give a longer series")
    mr = np.abs(np.diff(x))
    mr_bar = mr.mean()
    if screen_outliers:
        kept = mr[mr <= RANGE_LIMIT * mr_bar]
        mr_bar = kept.mean() if len(kept) else mr_bar
    sigma = mr_bar / D2
    mean = float(x.mean())
    return Limits(mean, float(sigma), mean - 3 * sigma, mean + 3 * sigma)


def _runs_on_one_side(side: np.ndarray, length: int) -> np.ndarray:
    """Mark every point belonging to a run of >= length equal non-zero signs."""
    flagged = np.zeros(len(side), dtype=bool)
    start = 0
    for i in range(1, len(side) + 1):
        if i == len(side) or side[i] != side[start]:
            if side[start] != 0 and i - start >= length:
                flagged[start:i] = True
            start = i
    return flagged


def _trends(x: np.ndarray, length: int) -> np.ndarray:
    """Mark every point of a run of >= length points each strictly above (or below) its predecessor."""
    step = np.sign(np.diff(x))
    flagged = np.zeros(len(x), dtype=bool)
    start = 0  # index into step
    for i in range(1, len(step) + 1):
        if i == len(step) or step[i] != step[start]:
            if step[start] != 0 and (i - start) + 1 >= length:
                flagged[start : i + 1] = True
            start = i
    return flagged


def _two_of_three(x: np.ndarray, lim: Limits) -> np.ndarray:
    """Points beyond 2 sigma in a window of 3 consecutive points, all on one side of the mean, of which at least
    2 are beyond 2 sigma on that side (only the near-limit points are flagged, as in MDC)."""
    flagged = np.zeros(len(x), dtype=bool)
    for near, side in (
        (x > lim.mean + 2 * lim.sigma, x > lim.mean),
        (x < lim.mean - 2 * lim.sigma, x < lim.mean),
    ):
        for i in range(len(x) - 2):
            if near[i : i + 3].sum() >= 2 and side[i : i + 3].all():
                flagged[i : i + 3] |= near[i : i + 3]
    return flagged


def analyse(
    values: npt.ArrayLike,
    *,
    improvement: Improvement = None,
    baseline: int | None = None,
    shift_length: int = 7,
    trend_length: int = 7,
    screen_outliers: bool = True,
) -> pd.DataFrame:
    """Per-point XmR chart with MDC rule flags and the MDC variation category of each point.

    `baseline` = number of leading points the limits are computed from (default: all). `improvement` says which
    direction is better ("up"/"down"), which turns special causes into "improvement"/"concern"; without it they are
    "neutral high"/"neutral low". Columns: value, mean, lower, upper, outside, shift, trend, two_of_three,
    special_cause, variation.
    """
    x = np.asarray(values, dtype=np.float64)
    n_base = len(x) if baseline is None else baseline
    if not 2 <= n_base <= len(x):
        raise InvalidInput("baseline", f"{baseline} is not between 2 and the series length", "give a valid count")
    if improvement not in ("up", "down", None):
        raise InvalidInput("improvement", f"{improvement!r} is not a direction", "use 'up', 'down' or None")
    lim = xmr_limits(x[:n_base], screen_outliers=screen_outliers)
    outside = (x > lim.upper) | (x < lim.lower)
    shift = _runs_on_one_side(np.sign(x - lim.mean), shift_length)
    trend = _trends(x, trend_length)
    two3 = _two_of_three(x, lim)
    special = outside | shift | trend | two3
    # a trend's direction is its slope; other signals are judged by the side of the mean
    step_in = np.concatenate([[0.0], np.sign(np.diff(x))])
    step_out = np.concatenate([np.sign(np.diff(x)), [0.0]])
    next_in_trend = np.concatenate([trend[1:], [False]])
    trend_dir = np.where(next_in_trend & (step_out != 0), step_out, step_in)
    high = np.where(trend & ~(outside | shift | two3), trend_dir > 0, x > lim.mean)
    if improvement is None:
        labels = np.where(high, "neutral high", "neutral low")
    else:
        good = high if improvement == "up" else ~high
        labels = np.where(good, "improvement", "concern")
    return pd.DataFrame(
        {
            "value": x,
            "mean": lim.mean,
            "lower": lim.lower,
            "upper": lim.upper,
            "outside": outside,
            "shift": shift,
            "trend": trend,
            "two_of_three": two3,
            "special_cause": special,
            "variation": np.where(special, labels, "common cause"),
        }
    )


def assurance(limits: Limits, target: float, improvement: Literal["up", "down"]) -> str:
    """MDC assurance: will the process consistently hit the target, consistently miss it, or hit and miss?"""
    if improvement not in ("up", "down"):
        raise InvalidInput("improvement", f"{improvement!r} is not a direction", "use 'up' or 'down'")
    lower_ok = limits.lower >= target if improvement == "up" else limits.upper <= target
    upper_fail = limits.upper < target if improvement == "up" else limits.lower > target
    if lower_ok:
        return "consistently passes"
    if upper_fail:
        return "consistently fails"
    return "hit and miss"
