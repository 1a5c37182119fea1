"""Tunable constants of the synthetic London generator, in one place so reviewers can see every assumption.

Rates marked "modelling choice" are plausible values chosen for synthetic data, not published figures.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Type 1 opt-out (dissent from secondary use of GP data). Read 9Nu0 is confirmed; this SNOMED CT equivalent is
#: NOT verified against the UK release (reference/data/README.md): keep it configurable here and nowhere else.
OPT_OUT_TYPE1_CODE = "827241000000103"
OPT_OUT_RATE = 0.03  # about 3% of patients (issue 2)

#: NHS numbers 999 000 0000 - 999 999 9999 are reserved for testing and never issued. That block holds about
#: 909k Modulus-11-valid numbers; beyond that the generator continues downward through 998, 997, ... (the 9xx
#: series is not issued to patients in England; NHS test environments use it), so every number stays unissuable.
NHS_TEST_PREFIX_FIRST = 999

#: London registered patients, 1 May 2022 (reference/data/README.md): the scale `--patients` is compared with.
LONDON_PATIENTS = 10_660_000
MAX_PATIENTS = 11_000_000

#: Each practice aims for at least this many patients when `--patients` is small: fewer practices are sampled.
MIN_PATIENTS_PER_PRACTICE = 300

#: Years of coded history generated before the extract date (records transferred from earlier practices included).
HISTORY_YEARS = 20

#: Mean time at the current practice (exponential); a modelling choice for London's mobile population.
REG_MEAN_YEARS = 11.0

#: Record status mix (modelling choice; London lists have high turnover).
LEFT_RATE_BASE = 0.07  # registration ended (moved away) within the history window
LEFT_RATE_YOUNG_ADULT = 0.16  # ages 18-35
DEATH_LOG_HAZARD = (-10.6, 0.096)  # annual death hazard = exp(a + b*age) (Gompertz-like), over 3 years

#: Faults that `--faults` can switch on, with the share of eligible rows affected.
FAULT_RATES: dict[str, float] = {
    "missing-ethnicity": 0.05,  # of patients: ethnicity left blank
    "duplicate-events": 0.01,  # of events: the row is written twice
    "invalid-nhs": 0.005,  # of patients: NHS number fails Modulus 11
    "future-dates": 0.002,  # of events: dated after the extract date
}
FAULTS: frozenset[str] = frozenset(FAULT_RATES)


@dataclass(frozen=True)
class Trust:
    ods: str
    name: str
    icb: str


#: A few London acute trusts (ODS codes); each borough's patients are admitted to the trusts of its ICB.
TRUSTS: tuple[Trust, ...] = (
    Trust("RAL", "Royal Free London NHS Foundation Trust", "NCL"),
    Trust("RRV", "University College London Hospitals NHS Foundation Trust", "NCL"),
    Trust("R1H", "Barts Health NHS Trust", "NEL"),
    Trust("RF4", "Barking, Havering and Redbridge University Hospitals NHS Trust", "NEL"),
    Trust("RYJ", "Imperial College Healthcare NHS Trust", "NWL"),
    Trust("RQM", "Chelsea and Westminster Hospital NHS Foundation Trust", "NWL"),
    Trust("RJ1", "Guy's and St Thomas' NHS Foundation Trust", "SEL"),
    Trust("RJZ", "King's College Hospital NHS Foundation Trust", "SEL"),
    Trust("RJ7", "St George's University Hospitals NHS Foundation Trust", "SWL"),
    Trust("RAX", "Kingston Hospital NHS Foundation Trust", "SWL"),
)

BUNDLE_MAX_ENTRIES = 10_000  # discharges per hospital Bundle file (docs/source-formats.md)

#: FHIR systems (UK Core).
SCT = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
ETHNIC_EXT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
LSOA_EXT = "https://carecommons.example/fhir/lsoa"
UCUM = "http://unitsofmeasure.org"
