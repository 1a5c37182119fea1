"""Fixtures for ingest tests: a small hand-made source tree with one fault of each kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_builders import (
    ATORVASTATIN_DMD,
    BAD_SNOMED,
    ETH_WHITE_BRITISH,
    HBA1C_DCCT,
    HYPERTENSION,
    NHS_BAD,
    NHS_OK,
    SYSTOLIC,
    condition,
    medication,
    observation,
    patient,
    registration,
    write_gp_csv,
    write_gp_fhir,
)

ODS_FHIR = "E83003"
ODS_CSV = "E83005"
EXTRACT = "2026-11-01"


def fhir_resources() -> dict[str, list]:
    """Patient 1 is clean, patient 2 has a bad NHS number, patient 3 was born in 1990."""
    return {
        "Patient": [
            patient(1, NHS_OK[0], ethnicity=ETH_WHITE_BRITISH, lsoa="E01000001"),
            patient(2, NHS_BAD),
            patient(3, dob="1990-01-01", gender="male"),
        ],
        "EpisodeOfCare": [registration(1, ODS_FHIR, "2000-01-01"), registration(3, ODS_FHIR, "2010-01-01")],
        "Observation": [
            observation(1, SYSTOLIC, "2025-01-01", 140, "mmHg"),  # line 1: loads, unit normalised
            observation(1, HBA1C_DCCT, "2025-01-01", 7.0, "%"),  # line 2: loads, DCCT % -> mmol/mol
            observation(1, SYSTOLIC, "2025-01-01", 140, "mmHg"),  # line 3: duplicate of line 1
            observation(2, SYSTOLIC, "2025-01-01", 120, "mmHg"),  # line 4: patient quarantined
            observation(3, SYSTOLIC, "1980-01-01", 120, "mmHg"),  # line 5: before birth
            observation(1, BAD_SNOMED, "2025-01-01", 1, "mmHg"),  # line 6: Verhoeff fails
            observation(1, SYSTOLIC, "2027-01-01", 1, "mmHg"),  # line 7: after the extract date
            observation(1, SYSTOLIC, "2025-01-01", 1, "furlongs"),  # line 8: unit unknown
            observation(9, SYSTOLIC, "2025-01-01", 1, "mmHg"),  # line 9: no such patient
        ],
        "Condition": [condition(1, HYPERTENSION, "2020-01-01")],
        "MedicationRequest": [medication(1, ATORVASTATIN_DMD, "2025-02-01")],
    }


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
