"""NHS number check digit (Modulus 11), needed by ingest, synth and identity alike."""

from __future__ import annotations

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def check_digit(first_nine: str) -> int | None:
    """Modulus-11 check digit for nine digits; None when the result is 10 (no valid number exists)."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid(nhs_number: str | None) -> bool:
    """True for ten digits whose last is the Modulus-11 check of the first nine (spaces allowed, as printed)."""
    if nhs_number is None:
        return False
    digits = nhs_number.replace(" ", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    return check_digit(digits[:9]) == int(digits[9])


def sql_is_valid(col: str) -> str:
    """SQL that is TRUE when column `col` holds a valid NHS number, portable to DuckDB, PostgreSQL and Spark.

    No regex (each engine spells it differently); the CASE guards the casts so non-digits never reach them.
    """
    all_digits = " AND ".join(f"SUBSTR({col}, {i + 1}, 1) BETWEEN '0' AND '9'" for i in range(10))
    digit = [f"CAST(SUBSTR({col}, {i + 1}, 1) AS INTEGER)" for i in range(10)]
    weighted = " + ".join(f"{w} * {digit[i]}" for i, w in enumerate(_WEIGHTS))
    chk = f"(11 - (({weighted}) % 11))"
    return (
        f"(CASE WHEN {col} IS NOT NULL AND LENGTH({col}) = 10 AND {all_digits} "
        f"THEN (CASE WHEN {chk} = 11 THEN 0 ELSE {chk} END) = {digit[9]} ELSE FALSE END)"
    )
