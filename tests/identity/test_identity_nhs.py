from __future__ import annotations

import pytest

from carecommons.core.nhs_number import check_digit
from carecommons.identity.nhs import format_nhs_number, normalise_nhs_number, strip_nhs_number


def _valid(first_nine: str) -> str:
    return first_nine + str(check_digit(first_nine))


VALID = _valid("943476591")


@pytest.mark.parametrize(
    "spelling", [VALID, f"{VALID[:3]} {VALID[3:6]} {VALID[6:]}", f"{VALID[:3]}-{VALID[3:6]}-{VALID[6:]}"]
)
def test_spellings_of_one_number_normalise_to_the_same_digits(spelling):
    assert normalise_nhs_number(spelling) == VALID


def test_integer_input_keeps_leading_zeros():
    number = _valid("012345678")
    assert normalise_nhs_number(int(number)) == number


def test_invalid_check_digit_is_rejected_but_still_stripped_for_linkage():
    wrong = VALID[:9] + str((int(VALID[9]) + 1) % 10)
    assert normalise_nhs_number(wrong) is None
    assert strip_nhs_number(f" {wrong[:3]} {wrong[3:]}") == wrong


@pytest.mark.parametrize("raw", [None, "", "   ", "12345", "abcdefghij"])
def test_absent_or_malformed_is_none(raw):
    assert normalise_nhs_number(raw) is None


def test_format_is_three_three_four():
    assert format_nhs_number(VALID) == f"{VALID[:3]} {VALID[3:6]} {VALID[6:]}"
    assert format_nhs_number(VALID[:9] + str((int(VALID[9]) + 1) % 10)) is None
