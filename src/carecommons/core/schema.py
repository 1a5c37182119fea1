"""Canonical record-store tables: the contract between ingest (writer) and identity/engine (readers).

Types are DuckDB SQL types; Spark and PostgreSQL mappings are derived from them by the store.
Patient ids are BIGINT because the engine joins ~1 billion events on them: integer keys keep
that join in memory on one machine. Sources whose ids are not integers get a stable 63-bit key
from ingest (see ingest docs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        """CREATE TABLE statement for DuckDB (and PostgreSQL: the types used are common to both)."""
        cols = ",\n  ".join(f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols}\n)"


def _t(name: str, doc: str, *cols: Column) -> Table:
    return Table(name=name, columns=tuple(cols), doc=doc)


C = Column

PRACTICES = _t(
    "practices",
    "GP practices with their place in the London hierarchy: practice -> PCN -> borough -> ICB -> London.",
    C("practice_id", "VARCHAR", False, "ODS code, e.g. E83003"),
    C("name", "VARCHAR"),
    C("postcode", "VARCHAR"),
    C("pcn_id", "VARCHAR", False, "synthetic PCN code within the borough, e.g. PCN-BARNET-03"),
    C("pcn_name", "VARCHAR"),
    C("borough", "VARCHAR", False, "local authority name as in lsoa_geog_lookup LAD_NAME"),
    C("icb", "VARCHAR", False, "NCL, NEL, NWL, SEL or SWL"),
    C("list_size", "INTEGER", True, "registered patients in the reference extract"),
    C("latitude", "DOUBLE"),
    C("longitude", "DOUBLE"),
)

PATIENTS = _t(
    "patients",
    "One row per GP patient record. Identifiable columns are only ever read through governance views.",
    C("patient_id", "BIGINT", False),
    C("nhs_number", "VARCHAR", True, "10 digits, Modulus-11 valid; NULL if absent"),
    C("given_name", "VARCHAR"),
    C("family_name", "VARCHAR"),
    C("date_of_birth", "DATE", False),
    C("sex", "VARCHAR", False, "'F', 'M' or 'U'"),
    C("postcode", "VARCHAR"),
    C("lsoa", "VARCHAR", True, "LSOA 2011 code"),
    C("imd_decile", "TINYINT", True, "IMD 2019 decile of the LSOA, 1 = most deprived"),
    C("ethnicity_code", "VARCHAR", True, "SNOMED CT ethnicity concept; NULL if not recorded"),
    C("ethnicity_16", "VARCHAR", True, "16-group category label (2001 census)"),
    C("ethnicity_6", "VARCHAR", True, "6-group category label"),
    C("date_of_death", "DATE"),
    C("practice_id", "VARCHAR", False, "practice whose extract supplied this record"),
    C("load_id", "VARCHAR", False),
)

REGISTRATIONS = _t(
    "registrations",
    "Periods of registration with a practice; end_date NULL means still registered.",
    C("patient_id", "BIGINT", False),
    C("practice_id", "VARCHAR", False),
    C("start_date", "DATE", False),
    C("end_date", "DATE"),
    C("load_id", "VARCHAR", False),
)

EVENTS = _t(
    "events",
    "Coded clinical events: diagnoses, observations with values, procedures, flags (care home, carer, opt-out).",
    C("patient_id", "BIGINT", False),
    C("practice_id", "VARCHAR", False),
    C("code", "VARCHAR", False, "SNOMED CT concept id"),
    C("date", "DATE", False),
    C("value", "DOUBLE", True, "numeric value in the canonical unit"),
    C("unit", "VARCHAR", True, "canonical UCUM unit, e.g. mm[Hg], mmol/mol, kg/m2"),
    C("load_id", "VARCHAR", False),
)

MEDICATIONS = _t(
    "medications",
    "Prescriptions / medication statements coded in dm+d.",
    C("patient_id", "BIGINT", False),
    C("practice_id", "VARCHAR", False),
    C("code", "VARCHAR", False, "dm+d code (VMP/AMP/VTM)"),
    C("date", "DATE", False, "date issued / authored"),
    C("load_id", "VARCHAR", False),
)

VACCINATIONS = _t(
    "vaccinations",
    "Immunisations (SNOMED CT procedure or dm+d product code).",
    C("patient_id", "BIGINT", False),
    C("practice_id", "VARCHAR", False),
    C("code", "VARCHAR", False),
    C("date", "DATE", False),
    C("load_id", "VARCHAR", False),
)

ENCOUNTERS = _t(
    "encounters",
    "GP consultations and contacts.",
    C("patient_id", "BIGINT", False),
    C("practice_id", "VARCHAR", False),
    C("date", "DATE", False),
    C("encounter_type", "VARCHAR"),
    C("load_id", "VARCHAR", False),
)

SOCIAL_CARE = _t(
    "social_care_records",
    "Adult social-care clients from local-authority feeds; identifiers are noisy and NHS number may be missing.",
    C("record_id", "VARCHAR", False),
    C("nhs_number", "VARCHAR"),
    C("given_name", "VARCHAR"),
    C("family_name", "VARCHAR"),
    C("date_of_birth", "DATE"),
    C("sex", "VARCHAR"),
    C("postcode", "VARCHAR"),
    C("local_authority", "VARCHAR", False),
    C("service_type", "VARCHAR"),
    C("start_date", "DATE"),
    C("end_date", "DATE"),
    C("load_id", "VARCHAR", False),
)

HOSPITAL = _t(
    "hospital_records",
    "Acute hospital discharges from trust feeds (FHIR Bundles); identifiers noisy, NHS number may be missing.",
    C("record_id", "VARCHAR", False),
    C("nhs_number", "VARCHAR"),
    C("given_name", "VARCHAR"),
    C("family_name", "VARCHAR"),
    C("date_of_birth", "DATE"),
    C("sex", "VARCHAR"),
    C("postcode", "VARCHAR"),
    C("trust_code", "VARCHAR", False, "ODS code of the trust"),
    C("admission_date", "DATE"),
    C("discharge_date", "DATE"),
    C("diagnosis_code", "VARCHAR", True, "SNOMED CT primary diagnosis"),
    C("discharge_destination", "VARCHAR"),
    C("load_id", "VARCHAR", False),
)

QUARANTINE = _t(
    "quarantine",
    "Rows that failed validation, kept with a reason a person can act on. Never logged, only stored.",
    C("load_id", "VARCHAR", False),
    C("source_file", "VARCHAR", False),
    C("line", "BIGINT", True, "1-based line (NDJSON/CSV) or entry index (Bundle)"),
    C("resource_type", "VARCHAR"),
    C("field", "VARCHAR"),
    C("reason", "VARCHAR", False),
    C("raw", "VARCHAR", True, "the offending line or entry, for correction at source"),
)

LOAD_MANIFEST = _t(
    "load_manifest",
    "One row per source file per load: received = loaded + quarantined, always.",
    C("load_id", "VARCHAR", False),
    C("source_file", "VARCHAR", False),
    C("sha256", "VARCHAR", False),
    C("feed", "VARCHAR", False, "gp, social_care or hospital"),
    C("practice_id", "VARCHAR"),
    C("extract_date", "DATE"),
    C("received", "BIGINT", False),
    C("loaded", "BIGINT", False),
    C("quarantined", "BIGINT", False),
    C("started_at", "TIMESTAMP", False),
    C("finished_at", "TIMESTAMP"),
    C("status", "VARCHAR", False, "committed, superseded"),
)

ALL_TABLES: tuple[Table, ...] = (
    PRACTICES,
    PATIENTS,
    REGISTRATIONS,
    EVENTS,
    MEDICATIONS,
    VACCINATIONS,
    ENCOUNTERS,
    SOCIAL_CARE,
    HOSPITAL,
    QUARANTINE,
    LOAD_MANIFEST,
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in ALL_TABLES}
