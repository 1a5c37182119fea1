"""A small synthetic record store for developing and testing the web app without the full pipeline.

Writes straight into the canonical tables (core.schema). Boroughs, their ICS and their QOF 2019/20 register
prevalence come from reference/data/reference/synthetic_london_params.json (sources in that file and its
README); practice codes and names are real London practices, but their borough and PCN here are assigned
round-robin, so geography is NOT real. Use `carecommons synth` + `ingest` for realistic data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from carecommons.core.dates import month_ends
from carecommons.core.paths import REFERENCE_DATA
from carecommons.governance.optouts import DEFAULT_OPT_OUT_CONFIG
from carecommons.reference.codelists import shipped
from carecommons.store.analytics import connect

INDEX_DATE = dt.date(2026, 11, 1)
#: What the generator writes: (QOF prevalence key, codelist of diagnosis codes, minimum age). These are only
#: what synthetic patients get coded with; the dashboards count them with the definitions library via the engine.
_P = "nhsd-primary-care-domain-refsets-"
_CONDITIONS = (("HYP", _P + "hyp_cod", 0), ("DM", _P + "dm_cod", 17), ("AST", _P + "ast_cod", 6),
               ("COPD", _P + "copd_cod", 0), ("CHD", _P + "chd_cod", 0), ("AF", _P + "afib_cod", 0),
               ("HF", _P + "hf_cod", 0), ("STIA", _P + "strk_cod", 0), ("DEM", _P + "dem_cod", 0),
               ("DEP", _P + "depr_cod", 18))  # fmt: skip
#: Measurements written for members of a condition: (condition, codelist, mean, sd).
_READINGS = (("HYP", _P + "bp_cod", 135.0, 15.0), ("DM", "opensafely-glycated-haemoglobin-hba1c-tests", 55.0, 12.0))
TYPE1_DISSENT = sorted(DEFAULT_OPT_OUT_CONFIG.all_dissent_codes)
#: Month ends the demo store's engine run covers (the SPC charts need a series).
TREND_MONTHS = 12
_ETHNICITY_6 = ["White", "Asian or Asian British", "Black or Black British", "Mixed", "Other ethnic groups", None]
_ETHNICITY_P = [0.52, 0.18, 0.13, 0.05, 0.06, 0.06]


def _boroughs() -> dict[str, dict]:
    params = json.loads((REFERENCE_DATA / "reference" / "synthetic_london_params.json").read_text())
    return params["boroughs"]


def build_demo_store(
    path: Path | str,
    patients: int = 2000,
    practices: int = 24,
    boroughs: int = 6,
    seed: int = 7,
    run_engine: bool = True,
) -> Path:
    """Create (replacing) a DuckDB store at `path` with `patients` synthetic patients in `practices` practices,
    then (unless `run_engine` is False) run the London library over it at TREND_MONTHS month ends."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    if path.exists():
        path.unlink()
    borough_params = _boroughs()
    # Take boroughs from several ICSs so London -> ICS drill-down has more than one branch.
    names = sorted(borough_params, key=lambda b: (borough_params[b]["icb"], b))
    by_icb: dict[str, list[str]] = {}
    for b in names:
        by_icb.setdefault(borough_params[b]["icb"], []).append(b)
    chosen: list[str] = []
    while len(chosen) < boroughs and any(by_icb.values()):
        for icb in sorted(by_icb):
            if by_icb[icb] and len(chosen) < boroughs:
                chosen.append(by_icb[icb].pop(0))
    ref = pd.read_csv(REFERENCE_DATA / "reference" / "ldn_practices.csv").head(practices)
    prac = pd.DataFrame(
        {
            "practice_id": ref["Organisation Code"],
            "name": ref["Name"].str.title(),
            "postcode": ref["Address"].str.extract(r"([A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})$")[0],
            "borough": [chosen[i % len(chosen)] for i in range(len(ref))],
            "list_size": ref["Number of patients registered at the GP practice"].astype("int32"),
            "latitude": ref["Latitude"],
            "longitude": ref["Longitude"],
        }
    )
    prac["icb"] = prac["borough"].map(lambda b: borough_params[b]["icb"])
    prac["pcn_n"] = prac.groupby("borough").cumcount() // 2 + 1
    prac["pcn_id"] = (
        "PCN-"
        + prac["borough"].str.upper().str.replace(r"[^A-Z]+", "-", regex=True)
        + "-"
        + prac["pcn_n"].astype(str).str.zfill(2)
    )
    prac["pcn_name"] = prac["borough"] + " PCN " + prac["pcn_n"].astype(str)
    prac = prac.drop(columns="pcn_n")

    n = patients
    weights = prac["list_size"].to_numpy(float)
    practice_of = rng.choice(len(prac), size=n, p=weights / weights.sum())
    age = np.minimum(rng.gamma(2.2, 18.0, n), 100).astype(int)
    dob = pd.to_datetime(INDEX_DATE) - pd.to_timedelta(age * 365.25 + rng.integers(0, 365, n), unit="D")
    imd = rng.integers(1, 11, n)
    eth = rng.choice(len(_ETHNICITY_6), size=n, p=_ETHNICITY_P)
    pid = np.arange(1, n + 1, dtype=np.int64) + 1_000_000
    practice_ids = prac["practice_id"].to_numpy()[practice_of]
    boroughs_of = prac["borough"].to_numpy()[practice_of]
    pats = pd.DataFrame(
        {
            "patient_id": pid,
            "nhs_number": None,
            "given_name": None,
            "family_name": None,
            "date_of_birth": dob.date,
            "sex": rng.choice(["F", "M"], n),
            "postcode": None,
            "lsoa": None,
            "imd_decile": imd.astype("int8"),
            "ethnicity_code": None,
            "ethnicity_16": None,
            "ethnicity_6": [_ETHNICITY_6[i] for i in eth],
            "date_of_death": None,
            "practice_id": practice_ids,
            "load_id": "demo",
        }
    )
    regs = pd.DataFrame(
        {
            "patient_id": pid,
            "practice_id": practice_ids,
            "start_date": (pd.to_datetime(INDEX_DATE) - pd.to_timedelta(rng.integers(30, 20 * 365, n), unit="D")).date,
            "end_date": None,
            "load_id": "demo",
        }
    )
    events: list[pd.DataFrame] = []
    adult_scale = np.where(age >= 18, 1.35, 0.25) * (1.0 + (5.5 - imd) * 0.04)  # more disease where more deprived
    reg_members: dict[str, np.ndarray] = {}
    for key, codelist_name, min_age in _CONDITIONS:
        prev = np.array([borough_params[b]["qof_prevalence_pct_2019_20"][key] / 100 for b in boroughs_of])
        has = (rng.random(n) < prev * adult_scale) & (age >= min_age)
        reg_members[key] = has
        codes = sorted(shipped(codelist_name).codes)
        k = int(has.sum())
        days_ago = rng.integers(1, 12 * 365, k)
        events.append(_events(pid[has], practice_ids[has], rng.choice(codes, k), days_ago, None))
    for key, codelist_name, mean, sd in _READINGS:
        measured = reg_members[key] & (rng.random(n) < 0.78)
        k = int(measured.sum())
        codes = sorted(shipped(codelist_name).codes)
        values = rng.normal(mean, sd, k)
        events.append(
            _events(pid[measured], practice_ids[measured], rng.choice(codes, k), rng.integers(1, 360, k), values)
        )
    opted = rng.random(n) < 0.03
    events.append(
        _events(
            pid[opted],
            practice_ids[opted],
            np.full(int(opted.sum()), TYPE1_DISSENT[0]),
            rng.integers(1, 2000, int(opted.sum())),
            None,
        )
    )
    ev = pd.concat(events, ignore_index=True)

    con = connect(path)
    try:
        _insert(con, "practices", prac)
        _insert(con, "patients", pats)
        _insert(con, "registrations", regs)
        _insert(con, "events", ev)
        if run_engine:
            # The dashboards read only the engine's results: compute the London library as `carecommons run` does.
            from carecommons.definitions.library import load_library
            from carecommons.engine import run

            run(con, load_library(), month_ends(INDEX_DATE - dt.timedelta(days=1), TREND_MONTHS), progress=False)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def _events(pids, practices, codes, days_ago, values) -> pd.DataFrame:
    k = len(pids)
    return pd.DataFrame(
        {
            "patient_id": pids,
            "practice_id": practices,
            "code": np.asarray(codes, dtype=object),
            "date": (pd.to_datetime(INDEX_DATE) - pd.to_timedelta(np.asarray(days_ago), unit="D")).date,
            "value": np.round(values, 1) if values is not None else np.full(k, np.nan),
            "unit": None,
            "load_id": "demo",
        }
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    con.register("_df", df)
    cols = ", ".join(df.columns)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _df")
    con.unregister("_df")
