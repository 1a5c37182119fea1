"""Unique, Modulus-11-valid NHS numbers that can never belong to a real patient (see config).

The i-th patient of a run gets the i-th number of a seeded permutation of the valid numbers of the 999 block
(then 998, 997, ... if a run needs more than ~909k), so numbers are unique across practices without any shared
state between worker processes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from carecommons.synth.config import NHS_TEST_PREFIX_FIRST

_WEIGHTS = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)


def check_digits(first_nine: np.ndarray) -> np.ndarray:
    """Vectorised Modulus-11 check digit of 9-digit integers; -1 where no valid number exists (check 10)."""
    total = np.zeros(len(first_nine), dtype=np.int64)
    rest = first_nine.astype(np.int64)
    for w in _WEIGHTS[::-1]:  # last digit has weight 2, first weight 10
        total += (rest % 10) * w
        rest //= 10
    check = 11 - total % 11
    check = np.where(check == 11, 0, check)
    return np.where(check == 10, -1, check)


@lru_cache(maxsize=4)
def _block(seed: int, block: int) -> np.ndarray:
    """Valid 10-digit numbers of block `block` (0 = 999, 1 = 998, ...) in a seeded random order."""
    prefix = NHS_TEST_PREFIX_FIRST - block
    nine = prefix * 1_000_000 + np.arange(1_000_000, dtype=np.int64)
    check = check_digits(nine)
    ok = check >= 0
    numbers = nine[ok] * 10 + check[ok]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4E45, block]))
    return rng.permutation(numbers)


def nhs_numbers(seed: int, first: int, count: int) -> np.ndarray:
    """The NHS numbers (int64) of global patient indices first .. first+count-1."""
    out = np.empty(count, dtype=np.int64)
    done = 0
    idx = first
    while done < count:
        block, offset = _locate(seed, idx)
        numbers = _block(seed, block)
        take = min(count - done, len(numbers) - offset)
        out[done : done + take] = numbers[offset : offset + take]
        done += take
        idx += take
    return out


def _locate(seed: int, index: int) -> tuple[int, int]:
    block = 0
    while True:
        n = len(_block(seed, block))
        if index < n:
            return block, index
        index -= n
        block += 1


def corrupt_check_digit(numbers: np.ndarray) -> np.ndarray:
    """Same nine digits with a wrong final digit, so Modulus 11 fails (used by the invalid-nhs fault)."""
    last = numbers % 10
    return numbers - last + (last + 3) % 10
