"""Several extracts staged at once give exactly the store and summary that one at a time gives."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from ingest_builders import snapshot, write_manifest

from carecommons.core.errors import InvalidInput
from carecommons.ingest import ingest
from carecommons.ingest.run import default_workers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    """A small synthetic city (every fault on) plus a NEWER extract of one practice, missing its last events,
    so supersession happens inside one organisation's sequence."""
    from carecommons.synth import FAULTS, generate

    out = tmp_path_factory.mktemp("city")
    generate(out, 1000, seed=5, faults=frozenset(FAULTS), extract_date=dt.date(2026, 11, 1), progress=False, workers=1)
    old = sorted((out / "gp").glob("*/2026-11-01"))[0]
    new = old.parent / "2026-12-01"
    shutil.copytree(old, new)
    (new / "manifest.json").unlink()
    data = sorted(p for p in new.rglob("*") if p.is_file())
    biggest = max(data, key=lambda p: p.stat().st_size)
    lines = biggest.read_text().splitlines()
    biggest.write_text("\n".join(lines[:-3]) + "\n")
    system = json.loads((old / "manifest.json").read_text()).get("system")
    write_manifest(new, "gp", old.parent.name, "2026-12-01", system)
    return out


def _summary_rows(summary) -> list[tuple]:
    return [(e.path, e.feed, e.org, e.status, e.received, e.loaded, e.quarantined) for e in summary.extracts]


def test_parallel_workers_load_exactly_what_one_worker_loads(city: Path, tmp_path: Path):
    one = ingest(tmp_path / "one.duckdb", [city], progress=False, workers=1)
    three = ingest(tmp_path / "three.duckdb", [city], progress=False, workers=3)
    assert one.ok and three.ok
    assert _summary_rows(three) == _summary_rows(one)
    assert any(e.extract_date == dt.date(2026, 12, 1) and e.status == "loaded" for e in three.extracts)
    assert snapshot(tmp_path / "three.duckdb") == snapshot(tmp_path / "one.duckdb")
    # The newer extract replaced the older one: only one committed load of that practice remains.
    rows = snapshot(tmp_path / "three.duckdb")["load_manifest"]
    newer_org = next(e.org for e in three.extracts if e.extract_date == dt.date(2026, 12, 1))
    assert {r[-1] for r in rows if r[4] == newer_org and r[5] == dt.date(2026, 11, 1)} == {"superseded"}


def test_worker_setting_errors_say_what_to_fix(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CARECOMMONS_INGEST_WORKERS", "two")
    with pytest.raises(InvalidInput, match="CARECOMMONS_INGEST_WORKERS"):
        default_workers()
    monkeypatch.setenv("CARECOMMONS_INGEST_WORKERS", "3")
    assert default_workers() == 3
    with pytest.raises(InvalidInput, match="workers"):
        ingest(tmp_path / "s.duckdb", [tmp_path], progress=False, workers=0)
