"""Risk scores over the record store: wall time and peak memory of each store function at scale.

Usage: .venv/bin/python benchmarks/bench_risk.py [--patients 1000000] [--events-per-patient 25] [--seed 7]

Builds a canonical store directly with numpy + Arrow (so generation is cheap and the run measures the risk layer):
patients of all ages registered at 200 practices, events drawn from the codelists the risk layer reads (eFI
deficits, registers, BP/HbA1c/eGFR/BMI/cholesterol values with plausible values, smoking), and prescriptions from the
statin/DOAC/steroid lists plus filler products. Then times frailty, qrisk3_for_store, cha2ds2_vasc, orbit and
case_finding.find once each on a 2026-03-31 index date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from carecommons.risk import af, case_finding, codes, efi, qrisk
from carecommons.store.analytics import create_tables

INDEX = dt.date(2026, 3, 31)
VALUED = {"sys_bp": (135, 18), "dia_bp": (82, 10), "hba1c": (42, 9), "egfr": (78, 20), "bmi": (27, 5)}
VALUED |= {"chol_total": (5.2, 1.0), "chol_hdl": (1.4, 0.35), "chol_ratio": (3.9, 1.0)}


def _codes(names: list[str]) -> np.ndarray:
    return np.array(sorted({c for n in names for c in codes.snomed(n).codes}))


def build(con: duckdb.DuckDBPyConnection, n: int, per: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    age_days = rng.integers(0, 95 * 365, n)
    dob = np.datetime64(INDEX) - age_days.astype("timedelta64[D]")
    eth = rng.choice(["154179001", "976631000000101", "92511000000107", "110751000000108", None], n)
    practice = np.char.add("P", (ids % 200).astype(str))
    con.register(
        "p",
        pa.table({"patient_id": ids, "date_of_birth": dob, "sex": rng.choice(["F", "M"], n), "ethnicity_code": eth,
                  "practice_id": practice}),
    )  # fmt: skip
    con.execute(
        "INSERT INTO patients (patient_id, date_of_birth, sex, ethnicity_code, practice_id, load_id) "
        "SELECT patient_id, date_of_birth, sex, ethnicity_code, practice_id, 'L' FROM p"
    )
    con.execute("INSERT INTO registrations SELECT patient_id, practice_id, DATE '2000-01-01', NULL, 'L' FROM p")
    diag = _codes(["af", "hyp", "dm", "chd", "hf", "stroke", "ckd", "ra", "smi", "smoke_current", "smoke_ex"])
    efi_codes = np.array(sorted({c for d in codes.EFI_DEFICITS for c in codes.snomed(f"efi:{d}").codes}))
    total = n * per
    owner = rng.integers(1, n + 1, total)
    kind = rng.random(total)
    code = np.empty(total, dtype=object)
    value = np.full(total, np.nan)
    coded = kind < 0.4
    code[coded] = rng.choice(efi_codes, coded.sum())
    dx = (kind >= 0.4) & (kind < 0.5)
    code[dx] = rng.choice(diag, dx.sum())
    measured = kind >= 0.5
    names = list(VALUED)
    which = rng.integers(0, len(names), measured.sum())
    m_codes = np.array([sorted(codes.snomed(k).codes)[0] for k in names])
    code[measured] = m_codes[which]
    means = np.array([VALUED[k][0] for k in names])[which]
    sds = np.array([VALUED[k][1] for k in names])[which]
    value[measured] = np.round(rng.normal(means, sds), 1)
    dates = np.datetime64(INDEX) - rng.integers(0, 3650, total).astype("timedelta64[D]")
    con.register(
        "e",
        pa.table({"patient_id": owner, "code": code.astype(str), "date": dates,
                  "value": pa.array(value, from_pandas=True)}),
    )  # fmt: skip
    con.execute("INSERT INTO events SELECT patient_id, 'P', code, date, value, NULL, 'L' FROM e")
    meds = np.concatenate(
        [sorted(codes.dmd(k).codes)[:5] for k in ("statin", "doac", "oral_steroid")]
        + [[f"9{i:08d}" for i in range(40)]]
    )
    m = n * 4
    con.register(
        "m",
        pa.table({"patient_id": rng.integers(1, n + 1, m), "code": rng.choice(meds, m),
                  "date": np.datetime64(INDEX) - rng.integers(0, 730, m).astype("timedelta64[D]")}),
    )  # fmt: skip
    con.execute("INSERT INTO medications SELECT patient_id, 'P', code, date, 'L' FROM m")
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--events-per-patient", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        create_tables(con)
        t0 = time.perf_counter()
        events = build(con, args.patients, args.events_per_patient, args.seed)
        print(f"built {args.patients:,} patients, {events:,} events in {time.perf_counter() - t0:.1f} s")
        for name, fn in (
            ("efi.frailty", efi.frailty),
            ("qrisk.qrisk3_for_store", qrisk.qrisk3_for_store),
            ("af.cha2ds2_vasc", af.cha2ds2_vasc),
            ("af.orbit", af.orbit),
            ("case_finding.find", case_finding.find),
        ):
            t = time.perf_counter()
            rows = len(fn(con, INDEX))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
            print(f"{name:24s} {time.perf_counter() - t:6.1f} s  {rows:>9,} rows  peak RSS {rss:.1f} GiB")
        con.close()


if __name__ == "__main__":
    main()
