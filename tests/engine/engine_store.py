"""Shared constants and helpers of the engine tests (a unique module name: test modules import it directly)."""

from __future__ import annotations

import datetime as dt

INDEX = dt.date(2025, 3, 31)
DATES = [dt.date(2025, 1, 31), dt.date(2025, 2, 28), INDEX]


def python_tables(con) -> dict[str, list[dict]]:
    """The store's engine tables as lists of dicts, for the reference evaluator."""
    out = {}
    for t in ("patients", "registrations", "events", "medications", "vaccinations"):
        cur = con.execute(f"SELECT * FROM {t}")
        names = [d[0] for d in cur.description]
        out[t] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return out
