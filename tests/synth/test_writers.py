"""The low-level writers: chunked NDJSON equals one-shot NDJSON; CSV header/rows; missing dates."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa

from carecommons.synth.writers import (
    NO_DATE,
    days_to_date,
    int_str,
    join,
    optional,
    write_csv,
    write_ndjson,
    write_ndjson_chunks,
)


def _lines(start: int, stop: int) -> pa.Array:
    ids = int_str(np.arange(start, stop))
    return join(['{"id":', ids, optional(np.arange(start, stop) % 2 == 0, [',"even":', ids]), "}"])


def test_chunked_ndjson_is_identical_to_one_shot(tmp_path):
    whole = write_ndjson(tmp_path / "a.ndjson", "a.ndjson", _lines(0, 23))
    chunked = write_ndjson_chunks(tmp_path / "b.ndjson", "b.ndjson", 23, _lines, chunk=5)
    a, b = (tmp_path / "a.ndjson").read_bytes(), (tmp_path / "b.ndjson").read_bytes()
    assert a == b and whole.sha256 == chunked.sha256 == hashlib.sha256(a).hexdigest()
    docs = [json.loads(x) for x in a.decode().splitlines()]
    assert [d["id"] for d in docs] == list(range(23))
    assert all(("even" in d) == (d["id"] % 2 == 0) for d in docs)


def test_csv_has_header_and_empty_fields_for_missing(tmp_path):
    days = np.array([0, NO_DATE, -365], dtype=np.int32)  # 1970-01-01, missing, 1969-01-01 (before the epoch)
    w = write_csv(tmp_path / "x.csv", "x.csv", {"d": days_to_date(days), "v": pa.array([1.5, None, 3.0])})
    assert (tmp_path / "x.csv").read_text() == "d,v\n1970-01-01,1.5\n,\n1969-01-01,3\n"
    assert w.rows == 3
