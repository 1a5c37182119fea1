"""Traceable identifiers the reliability store gives every patient, so a leak can be searched for in any body."""

from __future__ import annotations


def family_name(patient_id: int) -> str:
    return f"Relfam{patient_id}x"


def nhs_number(patient_id: int) -> str:
    """Ten digits unique per patient (not Modulus-11 valid: only used as a marker in the test store)."""
    return f"{9_000_000_000 + patient_id % 1_000_000_000}"
