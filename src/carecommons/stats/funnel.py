"""Funnel plot control limits for comparing organisations of different sizes, with overdispersion adjustment.

Method: Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med 2005;24:1185-1202 (limits,
exact binomial/Poisson limits with interpolation, appendix A.1.1); and Spiegelhalter DJ. Handling over-dispersion of
performance indicators. Qual Saf Health Care 2005;14:347-351 (winsorised z-scores, multiplicative and additive
random-effects adjustment). The 95% and 99.8% limits are the conventional "2 and 3 sigma" pair used by NHS England
and OHID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

from carecommons.core.errors import InvalidInput
from carecommons.stats._validate import as_array, same_length
from carecommons.stats.proportions import z_for

Kind = Literal["proportion", "ratio"]
LEVELS: tuple[float, ...] = (0.95, 0.998)


@dataclass(frozen=True)
class Overdispersion:
    """Estimated overdispersion: phi (the winsorised mean squared z-score) and the additive tau^2."""

    phi: float
    tau2: float
    units: int
    winsor_fraction: float

    @property
    def overdispersed(self) -> bool:
        """True when I*phi exceeds its expectation I-1 under the no-overdispersion hypothesis."""
        return self.units * self.phi > self.units - 1


def _se(kind: Kind, target: float, denominators: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        if kind == "proportion":
            return np.sqrt(target * (1 - target) / denominators)
        return np.sqrt(target / denominators)  # ratio O/E: Var(O/E) = target/E under Poisson


def winsorise(z: npt.ArrayLike, fraction: float = 0.1) -> np.ndarray:
    """Pull the floor(fraction*I) most extreme z-scores in each tail in to the next most extreme value."""
    arr = np.asarray(z, dtype=np.float64)
    k = int(np.floor(fraction * len(arr)))
    if k == 0:
        return arr.copy()
    ordered = np.sort(arr)
    return np.clip(arr, ordered[k], ordered[-k - 1])


def overdispersion(
    observed: npt.ArrayLike,
    denominators: npt.ArrayLike,
    target: float,
    *,
    kind: Kind = "proportion",
    winsor_fraction: float = 0.1,
) -> Overdispersion:
    """Spiegelhalter's overdispersion estimates from each unit's observed count and denominator (or expected)."""
    o = as_array("observed", observed)
    n = as_array("denominators", denominators)
    same_length(observed=o, denominators=n)
    keep = n > 0
    o, n = o[keep], n[keep]
    if len(n) < 3:
        raise InvalidInput("denominators", "fewer than 3 units with a denominator", "overdispersion needs more units")
    se = _se(kind, target, n)
    z = winsorise((o / n - target) / se, winsor_fraction)
    units = len(z)
    phi = float(np.mean(z**2))
    w = 1 / se**2
    tau2 = max(0.0, (units * phi - (units - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return Overdispersion(phi=phi, tau2=tau2, units=units, winsor_fraction=winsor_fraction)


def _exact_limit(kind: Kind, target: float, n: np.ndarray, p: float) -> np.ndarray:
    """Exact limit at cumulative probability p with Spiegelhalter's interpolation between integer counts."""
    dist = sps.binom(np.round(n).astype(np.int64), target) if kind == "proportion" else sps.poisson(target * n)
    r = dist.ppf(p)
    f_r = dist.cdf(r)
    f_below = dist.cdf(r - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(f_r > f_below, (f_r - p) / (f_r - f_below), 0.0)
        return (r - alpha) / n


def limits(
    denominators: npt.ArrayLike,
    target: float,
    *,
    kind: Kind = "proportion",
    levels: tuple[float, ...] = LEVELS,
    method: Literal["normal", "exact"] = "normal",
    dispersion: Overdispersion | None = None,
    adjustment: Literal["additive", "multiplicative"] = "additive",
) -> pd.DataFrame:
    """Lower/upper funnel limits at each denominator (e.g. a grid for the plot, or each unit's own n).

    kind "proportion": events/denominator against a target proportion; "ratio": observed/expected (denominators are
    the expected counts) against a target ratio, usually 1. With `dispersion` (from `overdispersion`) the limits
    widen only when the data are overdispersed: additively (random effects, sqrt(se^2 + tau^2)) or
    multiplicatively (sqrt(phi) * se). Exact limits are not defined with an overdispersion adjustment.
    """
    n = as_array("denominators", denominators)
    if kind == "proportion" and not 0 < target < 1:
        raise InvalidInput("target", f"{target} is not a proportion strictly between 0 and 1", "give e.g. 0.75")
    if kind == "ratio" and target <= 0:
        raise InvalidInput("target", "a ratio target must be positive", "use 1 for observed/expected")
    if dispersion is not None and method == "exact":
        raise InvalidInput("method", "exact limits cannot be overdispersion-adjusted", "use method='normal'")
    out = {"denominator": n}
    se = _se(kind, target, n)
    if dispersion is not None and dispersion.overdispersed:
        se = np.sqrt(se**2 + dispersion.tau2) if adjustment == "additive" else np.sqrt(dispersion.phi) * se
    for level in levels:
        tag = f"{level * 100:g}".replace(".", "_")
        if method == "exact":
            lo = _exact_limit(kind, target, n, (1 - level) / 2)
            hi = _exact_limit(kind, target, n, 1 - (1 - level) / 2)
        else:
            z = z_for(level)
            lo, hi = target - z * se, target + z * se
        floor, ceiling = (0.0, 1.0) if kind == "proportion" else (0.0, np.inf)
        out[f"lower_{tag}"] = np.clip(lo, floor, ceiling)
        out[f"upper_{tag}"] = np.clip(hi, floor, ceiling)
    return pd.DataFrame(out)


def classify(
    observed: npt.ArrayLike,
    denominators: npt.ArrayLike,
    target: float | None = None,
    *,
    kind: Kind = "proportion",
    adjust_for_overdispersion: bool = False,
    adjustment: Literal["additive", "multiplicative"] = "additive",
) -> pd.DataFrame:
    """Each unit's value and whether it lies above/below the 95% and 99.8% limits at its own denominator.

    `target` defaults to the pooled value (sum observed / sum denominators), the usual choice for a peer comparison.
    """
    o = as_array("observed", observed)
    n = as_array("denominators", denominators)
    same_length(observed=o, denominators=n)
    t = float(o.sum() / n.sum()) if target is None else target
    disp = overdispersion(o, n, t, kind=kind) if adjust_for_overdispersion else None
    frame = limits(n, t, kind=kind, dispersion=disp, adjustment=adjustment)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame.insert(0, "value", np.where(n > 0, o / n, np.nan))
    frame["target"] = t
    frame["signal"] = np.select(
        [frame["value"] > frame["upper_99_8"], frame["value"] > frame["upper_95"],
         frame["value"] < frame["lower_99_8"], frame["value"] < frame["lower_95"]],
        ["above 99.8%", "above 95%", "below 99.8%", "below 95%"],
        default="within",
    )  # fmt: skip
    return frame
