"""kill -9 at random points during a load leaves the store as it was before that load; re-running completes it.

A real subprocess runs `ingest()` and is killed with SIGKILL after a random delay spread over the
measured length of a clean run, so kills land before, during and after commits. After each kill:
- every load in the manifest as committed has exactly the rows a clean run gave that load, and no
  row belongs to a load that is not committed (nothing half-written is visible);
- re-running the same command gives exactly the clean run's store.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from ingest_builders import NHS_OK, SYSTOLIC, observation, patient, registration, write_gp_fhir

from carecommons.core.schema import ALL_TABLES
from carecommons.store.analytics import connect

pytestmark = pytest.mark.slow

VOLATILE = {"started_at", "finished_at"}
RUNNER = "import sys; from pathlib import Path; from carecommons.ingest import ingest; ingest(Path(sys.argv[1]), [Path(a) for a in sys.argv[2:]], progress=False)"


def _write_sources(root: Path, date: str, patients: int, obs: int, seed: int) -> None:
    rng = random.Random(seed)
    for k, ods in enumerate(("E83003", "E83005", "E83006")):
        base = k * 10_000
        pats = [patient(base + i, NHS_OK[i % 3] if i % 5 == 0 else None) for i in range(1, patients + 1)]
        regs = [registration(base + i, ods, "2001-01-01") for i in range(1, patients + 1)]
        observations = [
            observation(
                base + rng.randint(1, patients),
                SYSTOLIC,
                f"2025-{rng.randint(1, 12):02d}-0{rng.randint(1, 9)}",
                rng.randint(90, 180),
                "mmHg",
            )
            for _ in range(patients * obs)
        ]
        write_gp_fhir(root, ods, date, {"Patient": pats, "EpisodeOfCare": regs, "Observation": observations})


def _run(store: Path, sources: list[Path]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(store), *map(str, sources)], env=os.environ.copy())


def _by_load(store: Path) -> tuple[dict[str, dict[str, list]], set[str], set[str]]:
    """(rows per load id per table, committed load ids, load ids that own rows in data or quarantine tables)."""
    con = connect(store)  # a read-write open replays the WAL a killed process left, as a real restart would
    try:
        rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        seen: set[str] = set()
        for t in ALL_TABLES:
            if "load_id" not in t.column_names:
                continue
            cols = ", ".join(c for c in t.column_names if c not in VOLATILE)
            for r in con.execute(f"SELECT load_id, {cols} FROM {t.name}").fetchall():
                rows[r[0]][t.name].append(r[1:])
                if t.name != "load_manifest":  # superseded loads keep their manifest rows, by design
                    seen.add(r[0])
        committed = {
            r[0] for r in con.execute("SELECT load_id FROM load_manifest WHERE status = 'committed'").fetchall()
        }
        return {k: {t: sorted(v, key=repr) for t, v in d.items()} for k, d in rows.items()}, committed, seen
    finally:
        con.close()


def test_kill_minus_nine_at_random_points(tmp_path: Path):
    old_src, new_src = tmp_path / "old", tmp_path / "new"
    _write_sources(old_src, "2026-10-01", patients=100, obs=20, seed=1)
    _write_sources(new_src, "2026-11-01", patients=100, obs=20, seed=2)

    # Clean reference: the old extracts, then the newer ones superseding them.
    ref_store = tmp_path / "ref.duckdb"
    assert _run(ref_store, [old_src]).wait() == 0
    ref_old, _, _ = _by_load(ref_store)
    old_only = tmp_path / "old_only.duckdb"
    shutil.copy(ref_store, old_only)  # closed and checkpointed by _by_load, so the file alone is the store
    t0 = time.monotonic()
    assert _run(ref_store, [new_src]).wait() == 0
    duration = time.monotonic() - t0
    ref_new, ref_committed, _ = _by_load(ref_store)
    reference = {**ref_new, **ref_old}  # an old load still committed must look as it did before any newer load

    rng = random.Random(20261125)
    points = [rng.uniform(0.05, 1.2) * duration for _ in range(10)]
    for i, delay in enumerate(points):
        store = tmp_path / f"crash{i}.duckdb"
        if i % 2 == 0:  # half the runs kill a load that supersedes an earlier one
            shutil.copy(old_only, store)
        proc = _run(store, [new_src])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        rows, committed, seen = _by_load(store)
        assert seen <= committed, f"point {i}: rows of uncommitted loads {sorted(seen - committed)} are visible"
        for lid in committed:
            assert rows.get(lid, {}) == reference[lid], f"point {i} ({delay:.2f}s): load {lid} differs from a clean run"

        assert _run(store, [new_src]).wait() == 0
        final, final_committed, final_seen = _by_load(store)
        assert final_committed == ref_committed
        assert final_seen <= final_committed
        assert {k: final[k] for k in final_committed} == {k: ref_new[k] for k in ref_committed}, (
            f"point {i}: re-run did not complete the load"
        )
