"""Care-layer timings on a synthetic store: one practice's worklist (with its audit entries), CSV export,
a 1,000-patient invitation batch, outbox delivery to a spool directory, and one linked patient record.

    .venv/bin/python benchmarks/bench_care.py --patients 1000000 --practices 100

The store is built in-process (numpy + Arrow) with the codes the worklist rules read: hypertension and diabetes
registers, systolic BP and HbA1c readings with plausible values over two years, flu vaccinations for half of
the over-65s. The operational database is SQLite (WAL, synchronous=FULL) in a temporary directory; governance
users, organisations and the audit chain are the real ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from carecommons.care.codes import codelist
from carecommons.care.invitations import invite
from carecommons.care.outbox import FileSender, deliver
from carecommons.care.record import patient_record
from carecommons.care.rules import ItemKind
from carecommons.care.worklists import WorklistFilters, export_csv, worklist
from carecommons.governance import orgs, users
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.analytics import create_tables
from carecommons.store.migrate import upgrade
from carecommons.store.operational import make_engine, make_sessionmaker

INDEX = dt.date(2026, 6, 30)


def _first(name: str) -> str:
    return sorted(codelist(name).codes)[0]


def build_store(con: duckdb.DuckDBPyConnection, n: int, practices: int, seed: int, filler: int) -> None:
    rng = np.random.default_rng(seed)
    create_tables(con)
    pids = np.arange(1, n + 1, dtype=np.int64)
    prac_ids = np.array([f"B{i:05d}" for i in range(practices)])
    practice = prac_ids[rng.integers(0, practices, n)]
    age = rng.integers(0, 95, n)
    dob = np.array(
        [INDEX - dt.timedelta(days=int(a * 365.25 + d)) for a, d in zip(age, rng.integers(0, 365, n), strict=True)]
    )
    con.register(
        "_p",
        pa.table({"practice_id": prac_ids, "name": [f"Practice {i}" for i in range(practices)]}),
    )
    con.execute(
        "INSERT INTO practices SELECT practice_id, name, NULL, 'PCN-' || substr(practice_id, 2, 3), NULL, 'Borough', "
        "'NCL', 1000, NULL, NULL FROM _p"
    )
    con.register(
        "_pat",
        pa.table({"patient_id": pids, "dob": dob, "sex": rng.choice(["F", "M"], n), "practice_id": practice}),
    )
    con.execute(
        "INSERT INTO patients (patient_id, given_name, family_name, date_of_birth, sex, practice_id, load_id) "
        "SELECT patient_id, 'Given' || patient_id, 'Family' || patient_id, dob, sex, practice_id, 'L' FROM _pat"
    )
    con.execute("INSERT INTO registrations SELECT patient_id, practice_id, DATE '2000-01-01', NULL, 'L' FROM _pat")
    hyp, dm, sbp, hba1c = (
        _first("nhsd-primary-care-domain-refsets-hyp_cod"),
        _first("nhsd-primary-care-domain-refsets-dm_cod"),
        _first("opensafely-systolic-blood-pressure-qof"),
        _first("opensafely-glycated-haemoglobin-hba1c-tests"),
    )
    adult = age >= 18
    on_hyp = adult & (rng.random(n) < np.clip(age / 250, 0, 0.5))
    on_dm = adult & (rng.random(n) < 0.08)
    parts = []

    def add(mask, code, values=None, k: int = 1):
        for _ in range(k):
            ids = pids[mask]
            days = rng.integers(0, 730, ids.size)
            dates = np.array([INDEX - dt.timedelta(days=int(d)) for d in days])
            vals = values(ids.size) if values else np.full(ids.size, np.nan)
            parts.append(pa.table({"patient_id": ids, "code": np.full(ids.size, code), "date": dates, "value": vals}))

    add(on_hyp, hyp)
    add(on_dm, dm)
    add(adult & (rng.random(n) < 0.6), sbp, lambda m: rng.normal(135, 15, m).round(), k=2)
    add(on_dm | (adult & (rng.random(n) < 0.1)), hba1c, lambda m: rng.normal(50, 10, m).round())
    events = pa.concat_tables(parts)
    con.register("_ev", events)
    con.execute(
        "INSERT INTO events SELECT e.patient_id, p.practice_id, e.code, e.date, "
        "CASE WHEN isnan(e.value) THEN NULL ELSE e.value END, NULL, 'L' FROM _ev e JOIN _pat p USING (patient_id)"
    )
    # Everything else a GP record holds: codes no rule reads, so the scans see a realistic events table.
    con.execute(
        "INSERT INTO events SELECT p.patient_id, p.practice_id, CAST(100000 + (r.i * 7919 + p.patient_id) % 50000 AS VARCHAR), "
        "DATE '2026-06-30' - CAST((r.i * 37 + p.patient_id) % 3650 AS INTEGER), NULL, NULL, 'L' "
        "FROM _pat p CROSS JOIN range(?) r(i)",
        [filler],
    )
    flu = _first("gm-sde/flu-vaccine.snomed")
    con.execute(
        "INSERT INTO vaccinations SELECT patient_id, practice_id, ?, DATE '2025-10-15', 'L' FROM _pat "
        "WHERE date_diff('year', dob, DATE '2026-06-30') >= 65 AND hash(patient_id) % 2 = 0",
        [flu],
    )


def _t(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<55} {time.perf_counter() - t0:8.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=200_000)
    ap.add_argument("--practices", type=int, default=20)
    ap.add_argument("--invite", type=int, default=1000)
    ap.add_argument("--filler-events", type=int, default=20, help="other coded events per patient")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary store, database and spool")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-care-"))
    con = duckdb.connect(str(tmp / "store.duckdb"))
    _t(
        f"build store ({args.patients:,} patients, {args.practices} practices)",
        lambda: build_store(con, args.patients, args.practices, args.seed, args.filler_events),
    )
    n_events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    print(f"events: {n_events:,}")
    url = f"sqlite:///{tmp / 'op.sqlite'}"
    upgrade(url)
    session = make_sessionmaker(make_engine(url))()
    orgs.sync_from_store(session, con)
    practice = con.execute(
        "SELECT practice_id FROM patients GROUP BY practice_id ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0][0]
    size = con.execute("SELECT count(*) FROM patients WHERE practice_id = ?", [practice]).fetchall()[0][0]
    users.create_user(session, "pm.bench", "benchmark-password", "practice_manager", practice)
    users.create_user(session, "gp.bench", "benchmark-password", "gp", practice)
    pm = Requester("pm.bench", "practice_manager", practice, Purpose.DIRECT_CARE)
    gp = Requester("gp.bench", "gp", practice, Purpose.DIRECT_CARE)
    print(f"practice {practice}: {size:,} registered patients")
    f = WorklistFilters(index_date=INDEX)
    rows = _t("worklist (all rules, audited per listed patient)", lambda: worklist(con, session, pm, practice, f))
    print(f"  rows: {len(rows):,}; reasons: {sum(len(r.items) for r in rows):,}")
    _t("worklist again (codes cached)", lambda: worklist(con, session, pm, practice, f))
    recalls = WorklistFilters(index_date=INDEX, kinds=frozenset({ItemKind.RECALL}))
    _t("worklist filtered to recalls", lambda: worklist(con, session, pm, practice, recalls))
    text = _t("export_csv (all rules, audited)", lambda: export_csv(con, session, pm, practice, f))
    print(f"  CSV: {len(text.splitlines()) - 1:,} lines, {len(text) / 1e6:.1f} MB")
    ids = [r.patient_id for r in rows[: args.invite]]
    res = _t(
        f"invite {len(ids):,} patients (SMS, audited)",
        lambda: invite(con, session, pm, practice, ids, "review", "sms", today=INDEX),
    )
    print(f"  queued {res.queued:,}")
    rep = _t(
        f"deliver {res.queued:,} messages to a spool directory",
        lambda: deliver(session, FileSender(tmp / "spool"), limit=100_000),
    )
    print(f"  sent {rep.sent:,}")
    pid = rows[0].patient_id
    _t("patient_record (one patient, audited)", lambda: patient_record(con, session, gp, pid, index_date=INDEX))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:,.0f} MiB")
    session.close()
    con.close()
    if args.keep:
        print(f"files kept in {tmp}")
    else:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
