"""Fast writers for the source formats (docs/source-formats.md): CSV through pyarrow, FHIR NDJSON built
column-wise with pyarrow string kernels (no Python loop per resource), every file hashed as it is written.

Values written are JSON-safe by construction (digits, ISO dates, names from synth.names, postcodes), so strings are
joined without escaping; tests/synth parse every line back with json.loads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

Part = str | pa.Array

#: Sentinel for a missing date in int32 day arrays (dates before 1970 are negative, so -1 cannot be used).
NO_DATE = np.iinfo(np.int32).min


@dataclass(frozen=True)
class Written:
    """One written file: path relative to its extract directory, sha256, data rows."""

    relpath: str
    sha256: str
    rows: int


def days_to_date(days: np.ndarray) -> pa.Array:
    """int32 days since 1970-01-01 (NO_DATE = missing) -> date32 with nulls."""
    d = np.asarray(days, dtype=np.int32)
    return pa.array(d, mask=d == NO_DATE).cast(pa.date32())


def int_str(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(np.asarray(values, dtype=np.int64), mask=missing)
    return pc.cast(arr, pa.string())


def write_bytes(path: Path, data: bytes | memoryview) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return hashlib.sha256(data).hexdigest()


def write_csv(path: Path, relpath: str, columns: dict[str, pa.Array]) -> Written:
    """Header line plus rows, quoting nothing (no value contains a comma, quote or newline)."""
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    sink.write((",".join(columns) + "\n").encode())
    if table.num_rows:
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    buf = sink.getvalue()
    return Written(relpath, write_bytes(path, memoryview(buf)), table.num_rows)


def join(parts: Sequence[Part]) -> pa.Array:
    """Element-wise concatenation of string arrays and literals (literals broadcast)."""
    arrays = [p for p in parts if not isinstance(p, str)]
    if not arrays:
        raise ValueError("join needs at least one array")
    return pc.binary_join_element_wise(*parts, "")


def optional(mask: np.ndarray, parts: Sequence[Part]) -> pa.Array:
    """`parts` joined where mask is true, else the empty string (to omit absent JSON members)."""
    filled = [pc.fill_null(p, "") if not isinstance(p, str) else p for p in parts]
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), join(filled), "")


def _ndjson_bytes(lines: pa.Array) -> memoryview:
    """The lines' bytes, each followed by a newline, without copying out of Arrow."""
    arr = pc.binary_join_element_wise(lines, "\n", "")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if pa.types.is_large_string(arr.type) else np.int32)
    start, stop = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return memoryview(arr.buffers()[2])[start:stop]


def write_ndjson(path: Path, relpath: str, lines: pa.Array | None) -> Written:
    """Write one JSON document per line; `lines` hold the documents without the newline."""
    if lines is None or len(lines) == 0:
        return Written(relpath, write_bytes(path, b""), 0)
    return Written(relpath, write_bytes(path, _ndjson_bytes(lines)), len(lines))


#: Rows per NDJSON chunk: bounds memory (~250 bytes a resource) however big a practice is.
NDJSON_CHUNK = 250_000


def write_ndjson_chunks(
    path: Path, relpath: str, n: int, build: Callable[[int, int], pa.Array], chunk: int = NDJSON_CHUNK
) -> Written:
    """Write n resources built `chunk` rows at a time by build(start, stop), hashing as the file is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for start in range(0, n, chunk):
            data = _ndjson_bytes(build(start, min(n, start + chunk)))
            digest.update(data)
            fh.write(data)
    return Written(relpath, digest.hexdigest(), n)
