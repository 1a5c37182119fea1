"""Inequality measures: the slope and relative index of inequality across ordered groups (e.g. IMD quintiles), and
rate ratios against a reference group for unordered groups (e.g. ethnic groups).

SII method as in the PHE/OHID technical guidance ("Slope index of inequality", Fingertips; Low A, Low A. Measuring
the gap: quantifying and comparing local health inequalities. J Public Health 2004;26:388-395): each group sits at
the midpoint of its cumulative share of the population (rank 0 = first group, 1 = last); the indicator is regressed
on that rank, weighted by population; the SII is the fitted difference between rank 1 and rank 0 (the slope). Order
the groups from most to least deprived (IMD quintile 1 first): a positive SII then means the value rises with
affluence. The RII is the SII divided by the population-weighted mean. Confidence intervals: by simulation from each
group's standard error (the PHE method) when standard errors are given, else from the weighted regression's
residual variance (t distribution, k - 2 degrees of freedom).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

from carecommons.core.errors import InvalidInput
from carecommons.stats._validate import as_array, check_confidence, same_length
from carecommons.stats.proportions import z_for


@dataclass(frozen=True)
class SiiResult:
    """SII and RII with confidence limits."""

    sii: float
    sii_lower: float
    sii_upper: float
    rii: float
    rii_lower: float
    rii_upper: float


def imd_quintile(decile: npt.ArrayLike) -> np.ndarray:
    """IMD quintile (1 = most deprived) from IMD decile (1 = most deprived), as the store holds deciles."""
    d = np.asarray(decile, dtype=np.float64)
    if np.isnan(d).any() or ((d < 1) | (d > 10)).any():
        raise InvalidInput("decile", "IMD deciles must be 1-10", "drop patients with no LSOA before grouping")
    return ((d + 1) // 2).astype(np.int64)


def mid_ranks(populations: npt.ArrayLike) -> np.ndarray:
    """Midpoint of each ordered group's cumulative population share."""
    p = as_array("populations", populations)
    share = p / p.sum()
    return np.cumsum(share) - share / 2


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares slope and intercept for each row of y (y may be 2-D: simulations x groups)."""
    w = w / w.sum()
    xm = (w * x).sum()
    ym = (y * w).sum(axis=-1)
    slope = ((x - xm) * (y - ym[..., None]) * w).sum(axis=-1) / ((x - xm) ** 2 * w).sum()
    return slope, ym - slope * xm


def sii(
    values: npt.ArrayLike,
    populations: npt.ArrayLike,
    se: npt.ArrayLike | None = None,
    *,
    confidence: float = 0.95,
    simulations: int = 10_000,
    seed: int = 1,
) -> SiiResult:
    """Slope and relative index of inequality across ordered groups (at least 3)."""
    y = as_array("values", values, non_negative=False)
    pop = as_array("populations", populations)
    same_length(values=y, populations=pop)
    if len(y) < 3 or (pop <= 0).any():
        raise InvalidInput("populations", "need >= 3 groups, each with a positive population", "merge empty groups")
    check_confidence(confidence)
    x = mid_ranks(pop)
    slope, _ = _wls(x, y, pop)
    mean = float((y * pop).sum() / pop.sum())
    alpha = 1 - confidence
    if se is not None:
        s = as_array("se", se)
        same_length(values=y, se=s)
        rng = np.random.default_rng(seed)
        sims = y + rng.standard_normal((simulations, len(y))) * s
        slopes, _ = _wls(x, sims, pop)
        means = (sims * pop).sum(axis=1) / pop.sum()
        lo, hi = np.quantile(slopes, [alpha / 2, 1 - alpha / 2])
        rlo, rhi = np.quantile(slopes / means, [alpha / 2, 1 - alpha / 2])
    else:
        w = pop / pop.sum()
        fitted_slope, intercept = _wls(x, y, pop)
        resid = y - (intercept + fitted_slope * x)
        dof = len(y) - 2
        sigma2 = (w * resid**2).sum() / dof * len(y)  # weights normalised to mean 1
        se_slope = np.sqrt(sigma2 / (len(y) * (w * (x - (w * x).sum()) ** 2).sum()))
        t = sps.t.ppf(1 - alpha / 2, dof)
        lo, hi = slope - t * se_slope, slope + t * se_slope
        rlo, rhi = lo / mean, hi / mean
    return SiiResult(float(slope), float(lo), float(hi), float(slope / mean), float(rlo), float(rhi))


def rate_ratios(
    events: npt.ArrayLike,
    denominators: npt.ArrayLike,
    groups: list[str],
    reference: str,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each group's proportion, its ratio to the reference group's and the ratio's CI (Katz log method).

    For unordered groups such as ethnicity, where a slope has no meaning. Groups with no events get a ratio of 0
    and no interval (the log method is undefined there).
    """
    a = as_array("events", events)
    n = as_array("denominators", denominators)
    same_length(events=a, denominators=n, groups=np.asarray(groups))
    if reference not in groups:
        raise InvalidInput("reference", f"{reference!r} is not one of the groups", f"choose from {groups}")
    r = groups.index(reference)
    if a[r] == 0:
        raise InvalidInput("reference", "the reference group has no events", "choose a larger reference group")
    z = z_for(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = a / n
        ratio = p / p[r]
        se_log = np.sqrt(1 / a - 1 / n + 1 / a[r] - 1 / n[r])
        lower = np.where(a > 0, ratio * np.exp(-z * se_log), np.nan)
        upper = np.where(a > 0, ratio * np.exp(z * se_log), np.nan)
    return pd.DataFrame({"group": groups, "value": p, "ratio": ratio, "lower": lower, "upper": upper})
