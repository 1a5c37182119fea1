"""End to end: synth (small, every fault on) -> ingest -> each faulted row quarantined with the right reason.

ingest imports nothing from synth (layers point down); only this test joins the two, through the
files synth writes (docs/source-formats.md) and its truth/faults.csv.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from carecommons.ingest import ingest
from carecommons.ingest.quality import practice_quality

pytestmark = pytest.mark.slow

#: fault -> words the quarantine reason must contain; None = not a row error (reported by dq instead).
EXPECTED_REASON = {
    "invalid-nhs": "Modulus 11",
    "duplicate-events": "duplicate",
    "future-dates": "in the future",
    "missing-ethnicity": None,
}


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory) -> tuple[Path, Path]:
    from carecommons.synth import FAULTS, generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, 1000, seed=11, faults=frozenset(FAULTS), extract_date=dt.date(2026, 11, 1), progress=False, workers=1)
    store = out / "store.duckdb"
    summary = ingest(store, [out], progress=False)
    assert summary.ok
    return out, store


def test_every_fault_is_caught_with_the_right_reason(synth_store):
    out, store = synth_store
    con = duckdb.connect(str(store), read_only=True)
    con.execute(f"CREATE TEMP TABLE f AS SELECT * FROM read_csv('{out / 'truth' / 'faults.csv'}', all_varchar = true)")
    assert set(r[0] for r in con.execute("SELECT DISTINCT fault FROM f").fetchall()) <= set(EXPECTED_REASON)
    rows = con.execute("""
        SELECT f.fault, q.reason FROM f
        LEFT JOIN quarantine q ON q.source_file = f.file AND q.line = CAST(f.line AS BIGINT)
    """).fetchall()
    assert rows, "synth wrote no faults"
    for fault, reason in rows:
        words = EXPECTED_REASON[fault]
        if words is not None:
            # A faulted row whose patient was itself quarantined reports that first (fix the patient first).
            assert reason is not None and (words in reason or "was quarantined" in reason), (fault, reason)
    con.close()


def test_rows_quarantined_beyond_the_faults_are_explained(synth_store):
    """Extra quarantine rows may only be consequences (a row whose patient was quarantined) or feed noise."""
    out, store = synth_store
    con = duckdb.connect(str(store), read_only=True)
    con.execute(f"CREATE TEMP TABLE f AS SELECT * FROM read_csv('{out / 'truth' / 'faults.csv'}', all_varchar = true)")
    extra = con.execute("""
        SELECT q.source_file, q.reason FROM quarantine q
        WHERE NOT EXISTS (SELECT 1 FROM f WHERE f.file = q.source_file AND CAST(f.line AS BIGINT) = q.line)
    """).fetchall()
    coincidental = 0
    for source_file, reason in extra:
        consequence = "was quarantined" in reason
        hospital_noise = source_file.startswith("hospital/") and "Modulus 11" in reason
        # Random histories occasionally repeat an event exactly (same code, date and value): ingest treats
        # any exact repeat as a duplicate, whether or not synth meant it as a fault.
        coincidental += "duplicate event" in reason
        assert consequence or hospital_noise or "duplicate event" in reason, (source_file, reason)
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    assert coincidental < 0.005 * events
    con.close()


def test_received_is_loaded_plus_quarantined_for_every_file(synth_store):
    out, store = synth_store
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT count(*) FROM load_manifest WHERE received <> loaded + quarantined").fetchone()[0] == 0
    files = {r[0] for r in con.execute("SELECT source_file FROM load_manifest").fetchall()}
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    feeds = ("gp/", "social_care/", "hospital/", "reference/")
    data_files = {w for w in written if w.startswith(feeds) and not w.endswith("manifest.json")}
    assert data_files <= files
    con.close()


def test_missing_ethnicity_shows_in_the_dq_report(synth_store):
    out, store = synth_store
    con = duckdb.connect(str(store), read_only=True)
    con.execute(f"CREATE TEMP TABLE f AS SELECT * FROM read_csv('{out / 'truth' / 'faults.csv'}', all_varchar = true)")
    faulted = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT split_part(file, '/', 2), count(*) FROM f WHERE fault = 'missing-ethnicity' GROUP BY 1"
        ).fetchall()
    }
    report = {r["practice_id"]: r for r in practice_quality(con)}
    assert faulted
    for practice, n in faulted.items():
        missing = con.execute(
            "SELECT count(*) FROM patients WHERE practice_id = ? AND ethnicity_code IS NULL", [practice]
        ).fetchone()[0]
        assert missing >= n - 1  # one faulted patient may also have been quarantined for another fault
        assert report[practice]["ethnicity_recorded_pct"] < 100.0
    con.close()
