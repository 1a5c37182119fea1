"""The hand-made ingest sample: one FHIR and one CSV practice with one fault of each kind (shared by tests)."""

from __future__ import annotations

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
