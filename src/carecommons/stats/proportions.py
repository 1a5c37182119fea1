"""Confidence intervals for proportions.

Wilson's score interval is what PHE/OHID Fingertips uses for proportions: unlike the Wald interval it stays inside
[0, 1] and behaves at 0 and n events, which matters for small practices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from carecommons.core.errors import InvalidInput
from carecommons.stats._validate import as_array, check_confidence, same_length


@dataclass(frozen=True)
class Interval:
    """Point estimates with lower and upper limits (arrays, one per group)."""

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def z_for(confidence: float) -> float:
    """Two-sided standard normal quantile: 1.96 for 0.95, 3.09 for 0.998."""
    return float(sps.norm.ppf(0.5 + check_confidence(confidence) / 2))


def wilson(events: npt.ArrayLike, denominators: npt.ArrayLike, confidence: float = 0.95) -> Interval:
    """Wilson score interval for events/denominators (vectorised). Groups with a zero denominator give NaN."""
    k = as_array("events", events)
    n = as_array("denominators", denominators)
    same_length(events=k, denominators=n)
    if (k > n).any():
        raise InvalidInput("events", "more events than the denominator in some group", "check numerator/denominator")
    z = z_for(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (k + z * z / 2) / (n + z * z)
        half = z * np.sqrt(n * p * (1 - p) + z * z / 4) / (n + z * z)
    lower = np.clip(centre - half, 0, 1)
    upper = np.clip(centre + half, 0, 1)
    # exact ends: the score interval reaches 0 (or 1) when there are no events (or all are events)
    lower = np.where(k == 0, 0.0, lower)
    upper = np.where(k == n, 1.0, upper)
    bad = n == 0
    return Interval(np.where(bad, np.nan, p), np.where(bad, np.nan, lower), np.where(bad, np.nan, upper))
