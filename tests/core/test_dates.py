import datetime as dt

import pytest

from carecommons.core.dates import month_ends, months_back, parse_date
from carecommons.core.errors import InvalidInput


@pytest.mark.parametrize(
    "index,months,expected",
    [
        (dt.date(2026, 3, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2024, 3, 31), 1, dt.date(2024, 2, 29)),
        (dt.date(2026, 1, 15), 15, dt.date(2024, 10, 15)),
        (dt.date(2026, 5, 31), 12, dt.date(2025, 5, 31)),
    ],
)
def test_months_back_clamps_to_month_end(index, months, expected):
    assert months_back(index, months) == expected


def test_month_ends_oldest_first_and_crosses_year():
    assert month_ends(dt.date(2026, 2, 10), 3) == [
        dt.date(2025, 12, 31),
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
    ]


def test_parse_date_error_names_input_and_fix():
    with pytest.raises(InvalidInput) as err:
        parse_date("31/03/2026", "--index-date")
    assert "--index-date" in str(err.value)
    assert "YYYY-MM-DD" in str(err.value)
