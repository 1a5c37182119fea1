"""Directly age(-sex) standardised rates with Dobson confidence intervals.

Method as in the PHE/OHID Fingertips technical guidance ("Confidence intervals", APHO/PHE): the DSR is the
weighted mean of stratum rates with the 2013 European Standard Population (ESP) as weights; its interval is the
Dobson et al. (1991) method, which scales exact Poisson limits for the total count by the DSR's variance. Fingertips
does not publish a DSR from fewer than 10 events (Morris JK et al., Popul Health Metr 2018;16:9, found Dobson
intervals adequate from 10 events); `reliable` says whether that threshold is met.

ESP 2013 weights (per 100,000, 5-year bands to 90+): Eurostat, "Revision of the European Standard Population",
2013 edition, Table 3; as used by ONS for age-standardised rates since 2014.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

from carecommons.core.errors import InvalidInput
from carecommons.stats._validate import as_array, check_confidence, same_length
from carecommons.stats.proportions import z_for

ESP2013_BANDS: tuple[str, ...] = (
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49",
    "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+",
)  # fmt: skip
ESP2013_WEIGHTS: tuple[int, ...] = (
    5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000,
    7000, 6500, 6000, 5500, 5000, 4000, 2500, 1500, 1000,
)  # fmt: skip

#: Fewest events from which Fingertips publishes a DSR.
MIN_EVENTS = 10


def esp_band(age: npt.ArrayLike) -> np.ndarray:
    """ESP 2013 band index (0 = 0-4 ... 18 = 90+) for ages in completed years."""
    a = np.asarray(age, dtype=np.float64)
    if np.isnan(a).any() or (a < 0).any():
        raise InvalidInput("age", "missing or negative ages", "give ages in completed years (>= 0)")
    return np.minimum(a // 5, 18).astype(np.int64)


def poisson_limits(
    observed: npt.ArrayLike, confidence: float = 0.95, method: Literal["exact", "byar"] = "exact"
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits for a Poisson count: exact (chi-square) or Byar's approximation (as PHE tools use)."""
    o = as_array("observed", observed)
    alpha = 1 - check_confidence(confidence)
    if method == "exact":
        lower = np.where(o > 0, sps.chi2.ppf(alpha / 2, 2 * o) / 2, 0.0)
        upper = sps.chi2.ppf(1 - alpha / 2, 2 * (o + 1)) / 2
    elif method == "byar":
        z = z_for(confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            lower = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
        upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
    else:
        raise InvalidInput("method", f"{method!r} is not a Poisson interval method", "use 'exact' or 'byar'")
    return lower, upper


@dataclass(frozen=True)
class DsrResult:
    """A directly standardised rate per `multiplier` people, its Dobson limits and the totals behind it."""

    rate: float
    lower: float
    upper: float
    observed: float
    population: float
    reliable: bool


def dsr(
    observed: npt.ArrayLike,
    population: npt.ArrayLike,
    band: npt.ArrayLike,
    sex: npt.ArrayLike | None = None,
    *,
    standard_bands: npt.ArrayLike | None = None,
    n_sexes: int | None = None,
    multiplier: float = 100_000,
    confidence: float = 0.95,
    method: Literal["exact", "byar"] = "exact",
) -> DsrResult:
    """Directly standardised rate of one group from its strata (one row per age band, or per age band and sex).

    Every (band, sex) stratum of the standard gets the ESP weight of its band, so an age-sex standardised rate uses
    the ESP for each sex. `standard_bands` restricts the standard (e.g. an indicator for ages 40-74); by default it
    is the set of bands given; `n_sexes` is how many sexes the standard has (default: those given). Strata of the standard that are absent or have no population contribute a rate of 0,
    as in the Fingertips tools.
    """
    o = as_array("observed", observed)
    n = as_array("population", population)
    b = np.asarray(band, dtype=np.int64).reshape(-1)
    same_length(observed=o, population=n, band=b)
    if ((b < 0) | (b > 18)).any():
        raise InvalidInput("band", "band indices must be 0-18 (ESP 2013, 5-year bands to 90+)", "use esp_band(age)")
    if (o[n == 0] > 0).any():
        raise InvalidInput("observed", "events in a stratum with no population", "check the stratum populations")
    sexes = np.zeros(len(b), dtype=object) if sex is None else np.asarray(sex, dtype=object).reshape(-1)
    cells = pd.Series(list(zip(b.tolist(), sexes.tolist(), strict=True)))
    if cells.duplicated().any():
        raise InvalidInput("band, sex", "a stratum appears more than once", "aggregate rows to one per stratum")
    std_bands = np.unique(b) if standard_bands is None else np.unique(np.asarray(standard_bands, dtype=np.int64))
    if not np.isin(b, std_bands).all():
        raise InvalidInput("band", "strata outside standard_bands", "drop them or widen standard_bands")
    weights_table = np.asarray(ESP2013_WEIGHTS, dtype=np.float64)
    total_weight = weights_table[std_bands].sum() * (n_sexes or len(set(sexes.tolist())))
    w = weights_table[b] / total_weight
    with np.errstate(divide="ignore", invalid="ignore"):
        stratum_rate = np.where(n > 0, o / n, 0.0)
        stratum_var = np.where(n > 0, o / n**2, 0.0)
    rate = float((w * stratum_rate).sum())
    var = float((w**2 * stratum_var).sum())
    total_o = float(o.sum())
    lo_o, hi_o = poisson_limits([total_o], confidence, method)
    if total_o > 0:
        scale = np.sqrt(var / total_o)
        lower, upper = rate + scale * (lo_o[0] - total_o), rate + scale * (hi_o[0] - total_o)
    else:
        lower, upper = 0.0, float("nan")  # Dobson's method needs at least one event
    return DsrResult(
        rate * multiplier, lower * multiplier, upper * multiplier, total_o, float(n.sum()), total_o >= MIN_EVENTS
    )


def dsr_table(
    frame: pd.DataFrame,
    by: list[str],
    *,
    observed: str = "observed",
    population: str = "population",
    band: str = "band",
    sex: str | None = "sex",
    multiplier: float = 100_000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """DSR per group of a long table (one row per group x band [x sex]); the standard is every band in the table.

    Groups missing a band (no one of that age) still standardise over the same bands, so their rates are comparable.
    """
    missing = [c for c in [*by, observed, population, band] + ([sex] if sex else []) if c not in frame.columns]
    if missing:
        raise InvalidInput("frame", f"missing columns {missing}", "name them or pass the column names")
    std = np.unique(frame[band].to_numpy(dtype=np.int64))
    rows = []
    for key, g in frame.groupby(by, sort=True, dropna=False):
        r = dsr(
            g[observed],
            g[population],
            g[band],
            None if sex is None else g[sex],
            standard_bands=std,
            n_sexes=None if sex is None else int(frame[sex].nunique()),
            multiplier=multiplier,
            confidence=confidence,
        )
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, keys, strict=True)), **r.__dict__})
    return pd.DataFrame(rows)
