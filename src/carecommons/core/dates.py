"""Index dates and windows shared by definitions, risk scores and reports."""

from __future__ import annotations

import datetime as dt


def parse_date(text: str, input_name: str = "date") -> dt.date:
    """Parse an ISO date (YYYY-MM-DD), naming the input in the error so users can find it."""
    from carecommons.core.errors import InvalidInput

    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError) as err:
        raise InvalidInput(
            input_name, f"{text!r} is not a date in YYYY-MM-DD form", "write it like 2026-03-31"
        ) from err


def months_back(index: dt.date, months: int) -> dt.date:
    """The same day `months` earlier, clamped to month end (31 March minus 1 month is 28/29 February)."""
    y, m = divmod(index.year * 12 + (index.month - 1) - months, 12)
    m += 1
    for day in (index.day, 30, 29, 28):
        try:
            return dt.date(y, m, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def month_ends(last: dt.date, n: int) -> list[dt.date]:
    """The last `n` month-end dates up to and including the month of `last`, oldest first."""
    out = []
    y, m = last.year, last.month
    for _ in range(n):
        nxt = dt.date(y + (m // 12), m % 12 + 1, 1)
        out.append(nxt - dt.timedelta(days=1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]
