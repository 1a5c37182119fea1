"""NHS number normalisation and display, on top of the Modulus-11 check in core.

Feeds write NHS numbers as "943 476 5919", "943-476-5919" or "9434765919"; linkage and pseudonyms need one
canonical spelling or the same person gets two keys. The check itself lives in `core.nhs_number` so ingest and
synth share it.
"""

from __future__ import annotations

from carecommons.core.nhs_number import is_valid

_SEPARATORS = str.maketrans("", "", " -\t")


def strip_nhs_number(raw: str | None) -> str | None:
    """Digits only (spaces and hyphens removed), or None when nothing is left; no validity check.

    Kept separate from `normalise_nhs_number` because probabilistic linkage still wants a mistyped number:
    one transposed digit is evidence, even though the number fails the check.
    """
    if raw is None:
        return None
    digits = str(raw).translate(_SEPARATORS)
    return digits or None


def normalise_nhs_number(raw: str | int | None) -> str | None:
    """The canonical ten-digit string when `raw` is a valid NHS number, else None.

    Integers are accepted because spreadsheets drop the formatting; leading zeros are restored (an NHS number
    never starts with 0 in practice, but test numbers can).
    """
    if raw is None:
        return None
    text = f"{raw:010d}" if isinstance(raw, int) else strip_nhs_number(raw)
    if text is None or not is_valid(text):
        return None
    return text


def format_nhs_number(raw: str | int | None) -> str | None:
    """The 3-3-4 printed form ("943 476 5919") that patients and clinicians recognise, or None if invalid."""
    text = normalise_nhs_number(raw)
    if text is None:
        return None
    return f"{text[:3]} {text[3:6]} {text[6:]}"
