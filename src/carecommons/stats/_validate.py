"""Argument checks shared by the stats functions, raising the platform's InvalidInput (input, problem, fix)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carecommons.core.errors import InvalidInput


def as_array(name: str, values: npt.ArrayLike, *, non_negative: bool = True) -> np.ndarray:
    """A float array from `values`, rejecting NaN and (by default) negatives, naming the argument in the error."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if np.isnan(arr).any():
        raise InvalidInput(name, "contains missing values", "drop or fill them before calling")
    if non_negative and (arr < 0).any():
        raise InvalidInput(name, "contains negative values", "counts and populations must be >= 0")
    return arr


def check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidInput("confidence", f"{confidence} is not between 0 and 1", "use e.g. 0.95 or 0.998")
    return confidence


def same_length(**arrays: np.ndarray) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInput(", ".join(lengths), f"lengths differ: {lengths}", "pass one value per group to each")
