"""Readers for synth output used by the tests: they read the written files, never the generator's internals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from carecommons.reference.codelists import shipped

#: Extract date of every test run (fixed so outputs and ages are reproducible).
EXTRACT = dt.date(2026, 11, 1)

#: QOF register group -> (codelist stems, minimum age of the QOF denominator).
REGISTER_CODELISTS: dict[str, tuple[tuple[str, ...], int]] = {
    "HYP": (("nhsd-primary-care-domain-refsets-hyp_cod",), 0),
    "DM": (("nhsd-primary-care-domain-refsets-dm_cod",), 17),
    "AST": (("nhsd-primary-care-domain-refsets-ast_cod",), 0),
    "COPD": (("nhsd-primary-care-domain-refsets-copd_cod",), 0),
    "CHD": (("nhsd-primary-care-domain-refsets-chd_cod",), 0),
    "AF": (("via_search_index/nhsd-primary-care-domain-refsets-afib_cod.csv",), 0),
    "HF": (("nhsd-primary-care-domain-refsets-hf_cod",), 0),
    "DEM": (("nhsd-primary-care-domain-refsets-dem_cod",), 0),
    "DEP": (("nhsd-primary-care-domain-refsets-depr_cod",), 18),
    "CKD": (("nhsd-primary-care-domain-refsets-ckd_cod",), 18),
    "MH": (("nhsd-primary-care-domain-refsets-mh_cod",), 0),
}


def read_csv_extracts(root: Path) -> dict[str, pd.DataFrame]:
    """Concatenate every CSV practice extract's tables, adding practice_id from the directory name."""
    tables: dict[str, list[pd.DataFrame]] = {}
    for path in sorted(root.glob("gp/*/*/csv/*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df["practice_id"] = path.parts[-4]
        tables.setdefault(path.stem, []).append(df)
    return {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}


def current_patients(t: dict[str, pd.DataFrame], extract: dt.date) -> pd.DataFrame:
    """Patients registered and alive on the extract date, with age and borough."""
    pats = t["patients"].merge(t["registrations"][["patient_id", "end_date"]], on="patient_id")
    pats = pats[(pats["end_date"] == "") & (pats["date_of_death"] == "")].copy()
    dob = pd.to_datetime(pats["date_of_birth"])
    pats["age"] = ((pd.Timestamp(extract) - dob).dt.days / 365.25).astype(int)
    return pats


def qof_prevalence(t: dict[str, pd.DataFrame], extract: dt.date, practices: pd.DataFrame) -> pd.DataFrame:
    """Register counts and age-eligible list sizes per borough, computed the QOF way from the written events."""
    pats = current_patients(t, extract).merge(practices[["practice_id", "borough"]], on="practice_id")
    ev = t["events"]
    rows = []
    for group, (stems, min_age) in REGISTER_CODELISTS.items():
        codes = set().union(*(shipped(s).codes for s in stems))
        coded = set(ev.loc[ev["code"].isin(codes), "patient_id"])
        elig = pats[pats["age"] >= min_age]
        on = elig["patient_id"].isin(coded)
        for borough, frame in elig.assign(on=on).groupby("borough"):
            rows.append((group, borough, int(frame["on"].sum()), len(frame)))
    return pd.DataFrame(rows, columns=["group", "borough", "register", "list"])


def ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tree_digest(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
