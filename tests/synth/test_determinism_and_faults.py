"""Seeds, formats and switchable faults."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from carecommons.core.errors import InvalidInput
from carecommons.core.nhs_number import is_valid
from carecommons.synth import FAULTS, generate
from synth.helpers import EXTRACT, tree_digest


def test_same_seed_gives_byte_identical_output_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a", 1000, seed=3, extract_date=EXTRACT, progress=False)
    b = generate(tmp_path / "b", 1000, seed=3, extract_date=EXTRACT, progress=False, workers=2)
    c = generate(tmp_path / "c", 1000, seed=4, extract_date=EXTRACT, progress=False)
    da, db, dc = tree_digest(a.out_dir), tree_digest(b.out_dir), tree_digest(c.out_dir)
    assert da == db  # also independent of the number of worker processes
    assert da != dc
    assert sum(da.get(k) != v for k, v in dc.items()) > len(dc) // 2


def test_mixed_format_writes_both_systems(mixed_faulty_run):
    systems = mixed_faulty_run.practices_by_system
    assert systems.get("csv", 0) > 0 and systems.get("fhir", 0) > 0


def test_no_faults_means_empty_fault_file_and_clean_data(csv_run):
    faults = pd.read_csv(csv_run.paths["faults"])
    assert faults.empty
    for path in csv_run.out_dir.glob("gp/*/*/csv/patients.csv"):
        pats = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert (pats["ethnicity_code"] != "").all()
        assert pats["nhs_number"].map(is_valid).all()
    for path in csv_run.out_dir.glob("gp/*/*/csv/events.csv"):
        ev = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert (ev["date"] <= EXTRACT.isoformat()).all()
        assert not ev.duplicated().any() or ev.duplicated().sum() < 0.001 * len(ev)  # chance coincidences only


def _line(root, file: str, line: int) -> str:
    return (root / file).read_text(encoding="utf-8").splitlines()[line - 1]


def test_each_recorded_fault_is_really_at_that_line(mixed_faulty_run):
    root = mixed_faulty_run.out_dir
    faults = pd.read_csv(mixed_faulty_run.paths["faults"])
    assert set(faults["fault"]) == FAULTS
    for row in faults.itertuples(index=False):
        text = _line(root, row.file, row.line)
        if row.file.endswith(".csv"):
            header = _line(root, row.file, 1).split(",")
            rec = dict(zip(header, text.split(","), strict=True))
            if row.fault == "invalid-nhs":
                assert not is_valid(rec["nhs_number"])
            elif row.fault == "missing-ethnicity":
                assert rec["ethnicity_code"] == ""
            elif row.fault == "future-dates":
                assert rec["date"] > EXTRACT.isoformat()
            else:
                assert text == _line(root, row.file, row.line - 1)
        else:
            if row.fault == "invalid-nhs":
                assert '"value":"999' in text and not any(
                    is_valid(part[:10]) for part in text.split('nhs-number","value":"')[1:]
                )
            elif row.fault == "missing-ethnicity":
                assert "EthnicCategory" not in text
            elif row.fault == "future-dates":
                date = text.split('DateTime":"')[1][:10]
                assert date > EXTRACT.isoformat()
            else:  # a re-entered duplicate: same content as the line before, under its own resource id
                this, before = json.loads(text), json.loads(_line(root, row.file, row.line - 1))
                assert this.pop("id") != before.pop("id")
                assert this == before


def test_faults_only_where_recorded(mixed_faulty_run):
    """Every invalid NHS number and future date in the output is listed in faults.csv (nothing unrecorded)."""
    root = mixed_faulty_run.out_dir
    faults = pd.read_csv(mixed_faulty_run.paths["faults"])
    listed = {(r.file, r.line) for r in faults.itertuples(index=False) if r.fault in ("invalid-nhs", "future-dates")}
    found = set()
    for path in root.glob("gp/*/*/csv/*.csv"):
        if path.name not in ("patients.csv", "events.csv"):
            continue
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        rel = str(path.relative_to(root))
        for i, text in enumerate(lines[1:], start=2):
            rec = dict(zip(header, text.split(","), strict=True))
            if path.name == "patients.csv" and not is_valid(rec["nhs_number"]):
                found.add((rel, i))
            if path.name == "events.csv" and rec["date"] > EXTRACT.isoformat():
                found.add((rel, i))
    csv_listed = {x for x in listed if x[0].endswith(".csv")}
    assert found == csv_listed and found


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"patients": 0}, "patients"),
        ({"patients": 999}, "patients"),
        ({"patients": 20_000_000}, "patients"),
        ({"patients": 1000, "faults": frozenset({"bogus"})}, "faults"),
        ({"patients": 1000, "format": "xml"}, "format"),
        ({"patients": 1000, "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path, kwargs, name):
    with pytest.raises(InvalidInput) as err:
        generate(tmp_path, progress=False, extract_date=dt.date(2026, 1, 1), **kwargs)
    assert err.value.input_name == name
    assert err.value.fix


def test_rerun_replaces_earlier_output_but_never_foreign_files(tmp_path):
    out = tmp_path / "src"
    generate(out, 2000, seed=1, format="csv", extract_date=EXTRACT, progress=False)
    generate(out, 1000, seed=2, format="csv", extract_date=EXTRACT, progress=False)
    practices = pd.read_csv(out / "reference" / "practices.csv")
    assert {p.name for p in (out / "gp").iterdir()} == set(practices["practice_id"])
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidInput):
        generate(foreign, 1000, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"
