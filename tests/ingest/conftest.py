"""Fixtures for ingest tests: a small hand-made source tree with one fault of each kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_builders import (
    ATORVASTATIN_DMD,
    NHS_OK,
    SYSTOLIC,
    write_gp_csv,
    write_gp_fhir,
)
from ingest_sample import EXTRACT, ODS_CSV, ODS_FHIR, fhir_resources


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A source tree with one FHIR practice and one CSV practice."""
    root = tmp_path / "sources"
    write_gp_fhir(root, ODS_FHIR, EXTRACT, fhir_resources(), raw_lines={"Observation": ["{not json", ""]})
    write_gp_csv(
        root,
        ODS_CSV,
        EXTRACT,
        {
            "patients": [
                {"patient_id": "10", "nhs_number": NHS_OK[1], "date_of_birth": "1950-01-01", "sex": "M"},
                {"patient_id": "11", "nhs_number": "", "date_of_birth": "1950-13-01", "sex": "F"},
                {"patient_id": "12", "nhs_number": "", "date_of_birth": "1970-01-01", "sex": "X"},
            ],
            "events": [
                {"patient_id": "10", "code": SYSTOLIC, "date": "2024-01-01", "value": "130", "unit": "mm[Hg]"},
                {"patient_id": "10", "code": SYSTOLIC, "date": "2024-02-01", "value": "abc", "unit": "mm[Hg]"},
                {"patient_id": "10", "code": "", "date": "2024-02-01"},
            ],
            "medications": [
                {"patient_id": "10", "dmd_code": ATORVASTATIN_DMD, "date": "2024-03-01"},
                {"patient_id": "10", "dmd_code": "320000008", "date": "2024-03-01"},  # check digit broken
            ],
            "vaccinations": [{"patient_id": "10", "code": "1037351000000105", "date": "2024-10-01"}],
            "encounters": [{"patient_id": "10", "date": "2024-01-01", "encounter_type": "consultation"}],
            "registrations": [{"patient_id": "10", "practice_id": ODS_CSV, "start_date": "1990-01-01"}],
        },
    )
    return root
