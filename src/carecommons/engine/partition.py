"""Patient ranges for partitioned evaluation: how many, and where they split.

Why: one compiled plan over the whole store builds hash tables keyed by (patient, src) and by patient that grow
with the store; at 10.7 M patients they outgrow memory and spill tens of GB. Every stage of the plan groups or
partitions by patient, so running it over slices of patients and appending the rows gives the same answer with
hash tables sized to a slice (cache- and memory-resident), and memory bounded whatever the store size. On a store
clustered by patient (carecommons.store.clustering; the engine's synthetic store is written that way) a slice
reads only its own row groups.
"""

from __future__ import annotations

import math
import os
import re

import duckdb

from carecommons.core.errors import InvalidInput

#: Environment variable overriding the number of patient ranges of a DuckDB run (1 = one unpartitioned query).
CHUNKS_ENV = "CARECOMMONS_ENGINE_CHUNKS"
#: Working memory of a range, bytes: per event row it scans (the coded rows, the (patient, src) groups and the
#: pivot; ~16 B measured at 1 M patients from peak RSS over 1-16 ranges, doubled) and per population row it
#: outputs (patient x index date: the compact stored row of engine.stored, ~60 B, and the joins and
#: projections before it). Measured at 1 M patients x 24 month ends (22.5 M population rows): peak RSS 4.76 GiB
#: with 4 ranges and 3.19 GiB with 17, i.e. ~430 B per population row of a range beyond the stored output; was
#: 2,000 B while every row kept 115 columns (which made 17 ranges where 4 fit, and cost 108 vs 85 CPU s).
BYTES_PER_EVENT = 32
BYTES_PER_PATIENT_DATE = 400
#: Share of DuckDB's memory limit one range may plan to use (the output table and the results writes need the
#: rest). Fewer, bigger ranges are cheaper in CPU: measured at 1 M patients, 1 and 4 ranges cost the same
#: (20.4 / 20.9 CPU s), 16 ranges 28.8 CPU s (each range is a separate query with its own planning, thread
#: start-up and hash-table set-up), so ranges are sized to memory, not made as small as possible.
MEMORY_SHARE = 0.25
MAX_CHUNKS = 4096

_UNITS = {
    "": 1,
    "b": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(text: str) -> int:
    """Bytes of a DuckDB size string such as '11.9 GiB', '12GB' or '512MiB'."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise InvalidInput("memory limit", f"{text!r} is not a size", "use a size such as 12GB or 512MiB")
    return int(float(m.group(1)) * _UNITS.get(unit, 1))


def memory_limit(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's DuckDB memory limit in bytes."""
    return parse_size(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])


def _table_rows(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> int:
    """Rows of the named store tables, from DuckDB's table metadata (no scan)."""
    names = ", ".join(f"'{t}'" for t in tables)
    row = con.execute(
        f"SELECT SUM(estimated_size) FROM duckdb_tables() WHERE table_name IN ({names}) AND NOT temporary"
    ).fetchone()
    return int(row[0] or 0)


def estimated_bytes(con: duckdb.DuckDBPyConnection, n_dates: int = 1) -> int:
    """Working memory of evaluating the whole store in one query (see BYTES_PER_EVENT)."""
    events = _table_rows(con, ("events", "medications", "vaccinations"))
    patients = _table_rows(con, ("patients",))
    return events * BYTES_PER_EVENT + patients * max(1, n_dates) * BYTES_PER_PATIENT_DATE


def choose_chunks(con: duckdb.DuckDBPyConnection, n_dates: int = 1, override: int | None = None) -> int:
    """How many patient ranges a DuckDB run over this store should use.

    `override` (or the CARECOMMONS_ENGINE_CHUNKS environment variable) wins. Otherwise the fewest ranges whose
    estimated working memory (estimated_bytes) each fits in MEMORY_SHARE of the connection's memory limit: a
    range that fits runs without spilling, and more ranges than that only add per-query overhead."""
    if override is None and os.environ.get(CHUNKS_ENV):
        raw = os.environ[CHUNKS_ENV]
        try:
            override = int(raw)
        except ValueError:
            raise InvalidInput(CHUNKS_ENV, f"{raw!r} is not a whole number", "set it to e.g. 8, or unset it") from None
    if override is not None:
        if not 1 <= override <= MAX_CHUNKS:
            raise InvalidInput("chunks", f"{override} patient ranges", f"use 1 to {MAX_CHUNKS}")
        return override
    need = estimated_bytes(con, n_dates) / (memory_limit(con) * MEMORY_SHARE)
    return min(MAX_CHUNKS, max(1, math.ceil(need)))


def patient_ranges(con: duckdb.DuckDBPyConnection, chunks: int) -> list[tuple[int, int]]:
    """`chunks` contiguous patient_id ranges covering every patient, about equal in patients (quantiles).

    Rows of other tables whose patient is not in `patients` never reach the output (the population joins
    patients), so covering the patients table's ids is enough. An empty store gives one empty range."""
    if chunks < 1:
        raise InvalidInput("chunks", f"{chunks} patient ranges", "use at least 1")
    lo, hi = con.execute("SELECT MIN(patient_id), MAX(patient_id) FROM patients").fetchone()
    if lo is None:
        return [(0, 0)]
    cuts: list[int] = []
    if chunks > 1:
        qs = [i / chunks for i in range(1, chunks)]
        cuts = con.execute("SELECT quantile_disc(patient_id, ?::DOUBLE[]) FROM patients", [qs]).fetchone()[0]
    starts = sorted({int(lo), *(int(c) + 1 for c in cuts if int(c) < hi)})
    ends = [s - 1 for s in starts[1:]] + [int(hi)]
    return list(zip(starts, ends, strict=True))
