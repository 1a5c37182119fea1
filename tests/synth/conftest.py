"""Synthetic runs shared by the synth tests (session scope: each is generated once, a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carecommons.synth import FAULTS, SynthSummary, generate
from synth.helpers import EXTRACT


@pytest.fixture(scope="session")
def csv_run(tmp_path_factory) -> SynthSummary:
    """12k patients, CSV only, no faults: large enough for prevalence and age-structure checks."""
    out: Path = tmp_path_factory.mktemp("synth_csv")
    return generate(out, 12_000, seed=7, format="csv", extract_date=EXTRACT, progress=False)


@pytest.fixture(scope="session")
def mixed_faulty_run(tmp_path_factory) -> SynthSummary:
    """3k patients, half FHIR half CSV, every fault switched on."""
    out: Path = tmp_path_factory.mktemp("synth_mixed_faults")
    return generate(out, 3_000, seed=11, format="mixed", faults=FAULTS, extract_date=EXTRACT, progress=False)


@pytest.fixture(scope="session")
def fhir_run(tmp_path_factory) -> SynthSummary:
    """2k patients, FHIR only, no faults."""
    out: Path = tmp_path_factory.mktemp("synth_fhir")
    return generate(out, 2_000, seed=5, format="fhir", extract_date=EXTRACT, progress=False)
