"""`generate`: plan the run, generate practices in parallel (each writes its own extract), then the social-care
and hospital feeds, the truth files and the practices reference, with Rich progress on every long step.

Determinism: every practice draws from its own RNG stream, SeedSequence([seed, practice index]), and results are
consumed in practice order, so output is byte-identical for a seed whatever the number of worker processes.
"""

from __future__ import annotations

import csv
import datetime as dt
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from carecommons.core.errors import InvalidInput
from carecommons.synth.clinical import make_clinical
from carecommons.synth.config import FAULTS
from carecommons.synth.extract import FaultRow, write_extract
from carecommons.synth.feeds import select_candidates, write_hospital, write_social_care
from carecommons.synth.people import make_people
from carecommons.synth.plan import Plan, PracticeSpec, make_plan

FORMATS = ("mixed", "csv", "fhir")
PARALLEL_FROM = 50_000  # below this many patients one process is faster than starting workers


@dataclass
class SynthSummary:
    """What a run wrote: row counts per GP table (all practices) and per feed, and where."""

    out_dir: Path
    patients: int
    practices: int
    seed: int
    format: str
    extract_date: dt.date
    faults: frozenset[str]
    practices_subset: bool
    rows: dict[str, int] = field(default_factory=dict)  # patients, registrations, events, medications, ...
    practices_by_system: dict[str, int] = field(default_factory=dict)
    social_care_records: int = 0
    hospital_discharges: int = 0
    fault_rows: int = 0
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def events_total(self) -> int:
        """Clinical rows of every kind (events + medications + vaccinations + encounters)."""
        return sum(self.rows.get(k, 0) for k in ("events", "medications", "vaccinations", "encounters"))


@dataclass
class _PracticeResult:
    index: int
    n_patients: int
    system: str
    rows: dict[str, int]
    faults: list[FaultRow]
    candidates: pd.DataFrame


_FILE_TABLE = {
    "patients.csv": "patients", "Patient.ndjson": "patients",
    "registrations.csv": "registrations", "EpisodeOfCare.ndjson": "registrations",
    "events.csv": "events", "Condition.ndjson": "events", "Observation.ndjson": "events",
    "medications.csv": "medications", "MedicationRequest.ndjson": "medications",
    "vaccinations.csv": "vaccinations", "Immunization.ndjson": "vaccinations",
    "encounters.csv": "encounters", "Encounter.ndjson": "encounters",
}  # fmt: skip

_WORKER: dict = {}


def _init_worker(plan: Plan, out_dir: Path, fmt: str, faults: frozenset[str]) -> None:
    _WORKER.update(plan=plan, out_dir=out_dir, fmt=fmt, faults=faults)


def _system_for(spec: PracticeSpec, fmt: str, seed: int) -> str:
    if fmt != "mixed":
        return fmt
    u = np.random.default_rng(np.random.SeedSequence([seed, 0x5E5, spec.index])).random()
    return "fhir" if u < 0.5 else "csv"


def _run_practice(spec: PracticeSpec) -> _PracticeResult:
    plan: Plan = _WORKER["plan"]
    rng = np.random.default_rng(np.random.SeedSequence([plan.seed, spec.index]))
    people = make_people(spec, plan.seed, plan.extract_date, rng)
    clin = make_clinical(spec, plan, people, rng)
    system = _system_for(spec, _WORKER["fmt"], plan.seed)
    files, faults = write_extract(
        _WORKER["out_dir"], spec.practice_id, plan.extract_date, system, people, clin, _WORKER["faults"], rng
    )
    rows: dict[str, int] = {}
    for w in files:
        table = _FILE_TABLE[w.relpath.rsplit("/", 1)[-1]]
        rows[table] = rows.get(table, 0) + w.rows
    candidates = select_candidates(people, clin, spec.borough, spec.icb, plan.extract_date, rng)
    return _PracticeResult(spec.index, spec.n_patients, system, rows, faults, candidates)


def _results(plan: Plan, out_dir: Path, fmt: str, faults: frozenset[str], workers: int) -> Iterator[_PracticeResult]:
    if workers <= 1:
        _init_worker(plan, out_dir, fmt, faults)
        try:
            yield from map(_run_practice, plan.practices)
        finally:
            _WORKER.clear()
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(plan, out_dir, fmt, faults)) as pool:
        yield from pool.imap(_run_practice, plan.practices, chunksize=1)


def _parse_faults(faults: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(faults)
    unknown = sorted(chosen - FAULTS)
    if unknown:
        raise InvalidInput(
            "faults", f"unknown fault name(s): {', '.join(unknown)}", f"choose from {', '.join(sorted(FAULTS))}"
        )
    return chosen


def generate(
    out_dir: Path,
    patients: int,
    seed: int = 42,
    format: str = "mixed",  # noqa: A002 - the public contract names it so
    faults: frozenset[str] = frozenset(),
    extract_date: dt.date | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> SynthSummary:
    """Write a synthetic London of `patients` GP records to `out_dir` in the source formats.

    `workers` defaults to both cores for large runs; output does not depend on it.
    """
    if format not in FORMATS:
        raise InvalidInput("format", f"{format!r} is not a known format", f"use one of {', '.join(FORMATS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput("seed", f"{seed!r} is not a non-negative whole number", "give e.g. --seed 42")
    chosen_faults = _parse_faults(faults)
    extract = extract_date or dt.date.today().replace(day=1)
    plan = make_plan(patients, seed, extract)
    out_dir = Path(out_dir)
    _prepare(out_dir)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if patients >= PARALLEL_FROM else 1
    summary = SynthSummary(
        out_dir=out_dir, patients=patients, practices=len(plan.practices), seed=seed, format=format,
        extract_date=extract, faults=chosen_faults, practices_subset=plan.subset,
    )  # fmt: skip
    all_faults: list[FaultRow] = []
    candidates: list[pd.DataFrame] = []
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        disable=not progress,
    ) as bar:  # fmt: skip
        task = bar.add_task("GP practices (patients)", total=patients)
        for res in _results(plan, out_dir, format, chosen_faults, workers):
            for k, v in res.rows.items():
                summary.rows[k] = summary.rows.get(k, 0) + v
            summary.practices_by_system[res.system] = summary.practices_by_system.get(res.system, 0) + 1
            all_faults.extend(res.faults)
            candidates.append(res.candidates)
            bar.advance(task, res.n_patients)
        feed_people = pd.concat(candidates, ignore_index=True)
        feeds = bar.add_task("social care and hospital feeds", total=2)
        summary.social_care_records, social_truth = write_social_care(out_dir, feed_people, extract, seed)
        bar.advance(feeds)
        summary.hospital_discharges, hospital_truth = write_hospital(out_dir, feed_people, extract, seed)
        bar.advance(feeds)
        truth_task = bar.add_task("truth and reference files", total=1)
        summary.paths = _write_truth(out_dir, plan, social_truth + hospital_truth, all_faults)
        bar.advance(truth_task)
    summary.fault_rows = len(all_faults)
    return summary


MARKER = ".carecommons-synth"
_OUR_DIRS = ("gp", "social_care", "hospital", "truth", "reference")


def _prepare(out_dir: Path) -> None:
    """Make out_dir ready: empty, or holding an earlier synth run (whose directories are replaced, so a smaller
    run never leaves stale practices behind for ingest to load). Anything else is refused, never deleted."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise InvalidInput(
                str(out_dir),
                "the directory is not empty and was not written by synth",
                "choose an empty or new directory (synth replaces only its own earlier output)",
            )
        for name in _OUR_DIRS:
            shutil.rmtree(out_dir / name, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("written by carecommons synth; its directories are replaced by the next run\n")


def _write_truth(out_dir: Path, plan: Plan, truth: list[tuple], faults: list[FaultRow]) -> dict[str, Path]:
    ref = out_dir / "reference" / "practices.csv"
    ref.parent.mkdir(parents=True, exist_ok=True)
    plan.practices_table.to_csv(ref, index=False, lineterminator="\n")
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    identity = truth_dir / "identity.csv"
    with open(identity, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("feed", "record_id", "patient_id"))
        # GP records are their own truth: one row per GP patient record.
        for spec in plan.practices:
            ids = range(spec.first_patient + 1, spec.first_patient + spec.n_patients + 1)
            w.writerows(("gp", i, i) for i in ids)
        w.writerows(truth)
    fault_path = truth_dir / "faults.csv"
    with open(fault_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("fault", "feed", "file", "line"))
        w.writerows((f.fault, f.feed, f.file, f.line) for f in faults)
    return {"practices": ref, "identity": identity, "faults": fault_path, "gp": out_dir / "gp"}
