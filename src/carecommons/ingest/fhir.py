"""FHIR R4 reading: bulk-export NDJSON and Bundles, parsed by DuckDB into GP candidate tables.

Each NDJSON file is read as raw lines with their 1-based line number (read_csv with no delimiter or
quoting, so a broken line stays one row), then parsed once with json_transform into a typed struct
that holds only the elements Carecommons uses. Lines that are not JSON, or that hold a resource of
the wrong type, go to the pre-quarantine with their line number; everything else becomes one
candidate row. Bundles (collection or transaction) are unpacked entry by entry; the entry index is
the "line" a person uses to find it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from carecommons.ingest.sql import FIX_AT_SOURCE, lit

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED_SYSTEM = "http://snomed.info/sct"
DMD_SYSTEM = "https://dmd.nhs.uk"
ETHNIC_CATEGORY_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
LSOA_URL = "https://carecommons.example/fhir/lsoa"
MAX_LINE_BYTES = 64 << 20

_V = "VARCHAR"
_CODING = [{"system": _V, "code": _V}]
_REF = {"reference": _V, "identifier": {"system": _V, "value": _V}}

#: json_transform structures: only what is mapped, so parsing skips everything else.
STRUCTURES: dict[str, dict] = {
    "Patient": {
        "resourceType": _V,
        "id": _V,
        "identifier": [{"system": _V, "value": _V}],
        "name": [{"given": [_V], "family": _V}],
        "gender": _V,
        "birthDate": _V,
        "deceasedDateTime": _V,
        "address": [{"postalCode": _V}],
        "extension": [{"url": _V, "valueString": _V, "valueCodeableConcept": {"coding": _CODING}}],
    },
    "EpisodeOfCare": {
        "resourceType": _V,
        "patient": _REF,
        "managingOrganization": _REF,
        "period": {"start": _V, "end": _V},
    },
    "Condition": {
        "resourceType": _V,
        "subject": _REF,
        "code": {"coding": _CODING},
        "onsetDateTime": _V,
        "recordedDate": _V,
    },
    "Observation": {
        "resourceType": _V,
        "subject": _REF,
        "code": {"coding": _CODING},
        "effectiveDateTime": _V,
        "valueQuantity": {"value": _V, "unit": _V, "code": _V},
    },
    "Procedure": {
        "resourceType": _V,
        "subject": _REF,
        "code": {"coding": _CODING},
        "performedDateTime": _V,
        "performedPeriod": {"start": _V},
    },
    "MedicationRequest": {
        "resourceType": _V,
        "subject": _REF,
        "medicationCodeableConcept": {"coding": _CODING},
        "authoredOn": _V,
    },
    "MedicationStatement": {
        "resourceType": _V,
        "subject": _REF,
        "medicationCodeableConcept": {"coding": _CODING},
        "effectiveDateTime": _V,
        "dateAsserted": _V,
    },
    "Immunization": {
        "resourceType": _V,
        "patient": _REF,
        "vaccineCode": {"coding": _CODING},
        "occurrenceDateTime": _V,
    },
    "Encounter": {
        "resourceType": _V,
        "subject": _REF,
        "period": {"start": _V},
        "class": {"code": _V},
    },
}

#: How each field is named for the sender, in quarantine rows (see validate_gp).
FIELDS = {
    "patient_id": "id",
    "patient_ref": "subject/patient",
    "nhs_number": "identifier(nhs-number)",
    "date_of_birth": "birthDate",
    "sex": "gender",
    "date_of_death": "deceasedDateTime",
    "ethnicity_code": "extension(EthnicCategory)",
    "code": "code",
    "value": "valueQuantity.value",
    "unit": "valueQuantity.unit",
    "start_date": "period.start",
    "end_date": "period.end",
    "practice_id": "managingOrganization",
    "date": "date",
}


def first_coding(coding: str, systems: tuple[str, ...]) -> str:
    """Code of the first coding whose system is one of `systems`.

    Nearly every resource carries the wanted coding first, so that element is tested directly and the
    list_filter lambda (a per-row list build) runs only for the rest; the answer is the same either way.
    """
    in_sql = ", ".join(lit(s) for s in systems)
    return (
        f"(CASE WHEN {coding}[1].system IN ({in_sql}) THEN {coding}[1].code "
        f"ELSE list_filter({coding}, lambda c: c.system IN ({in_sql}))[1].code END)"
    )


def sct_code(coding: str) -> str:
    return first_coding(coding, (SNOMED_SYSTEM,))


def _ods(ref: str) -> str:
    return f"coalesce({ref}.identifier.value, regexp_extract({ref}.reference, '^Organization/(.+)$', 1))"


def _no_coding(code_sql: str, what: str) -> tuple[str, str]:
    """(pre_field, pre_reason) SQL for a resource without a usable coding."""
    return (
        f"CASE WHEN {code_sql} IS NULL THEN 'code' END",
        f"CASE WHEN {code_sql} IS NULL THEN {lit(f'no {what} coding; add the {what} code and re-send')} END",
    )


@dataclass(frozen=True)
class Mapping:
    """Where a resource type goes: candidate table, its columns as SQL over the struct `j`, pre-checks."""

    table: str
    columns: dict[str, str]
    pre_field: str = "CAST(NULL AS VARCHAR)"
    pre_reason: str = "CAST(NULL AS VARCHAR)"


def _coded(table: str, subject: str, code: str, date: str, what: str, extra: dict[str, str] | None = None) -> Mapping:
    pre_field, pre_reason = _no_coding(code, what)
    cols = {"pid_ref": subject, "code": code, "date_t": date, **(extra or {})}
    return Mapping(table, cols, pre_field, pre_reason)


_DMD = first_coding("j.medicationCodeableConcept.coding", (DMD_SYSTEM, SNOMED_SYSTEM))

MAPPINGS: dict[str, Mapping] = {
    "Patient": Mapping(
        "patients",
        {
            "pid_ref": "coalesce(j.id, _full_url)",
            "nhs_number": f"(CASE WHEN j.identifier[1].system = {lit(NHS_NUMBER_SYSTEM)} THEN j.identifier[1].value "
            f"ELSE list_filter(j.identifier, lambda i: i.system = {lit(NHS_NUMBER_SYSTEM)})[1].value END)",
            "given_name": "j.name[1].given[1]",
            "family_name": "j.name[1].family",
            "dob_t": "j.birthDate",
            "sex_t": "j.gender",
            "postcode": "j.address[1].postalCode",
            "lsoa": f"list_filter(j.extension, lambda e: e.url = {lit(LSOA_URL)})[1].valueString",
            "ethnicity_code": f"list_filter(j.extension, lambda e: e.url = {lit(ETHNIC_CATEGORY_URL)})[1]"
            ".valueCodeableConcept.coding[1].code",
            "dod_t": "j.deceasedDateTime",
        },
    ),
    "EpisodeOfCare": Mapping(
        "registrations",
        {
            "pid_ref": "j.patient.reference",
            "practice_t": _ods("j.managingOrganization"),
            "start_t": "j.period.start",
            "end_t": 'j.period."end"',
        },
    ),
    "Condition": _coded(
        "events",
        "j.subject.reference",
        sct_code("j.code.coding"),
        "coalesce(j.onsetDateTime, j.recordedDate)",
        "SNOMED CT",
    ),
    "Observation": _coded(
        "events",
        "j.subject.reference",
        sct_code("j.code.coding"),
        "j.effectiveDateTime",
        "SNOMED CT",
        {"value_t": "j.valueQuantity.value", "unit_t": "coalesce(j.valueQuantity.code, j.valueQuantity.unit)"},
    ),
    "Procedure": _coded(
        "events",
        "j.subject.reference",
        sct_code("j.code.coding"),
        "coalesce(j.performedDateTime, j.performedPeriod.start)",
        "SNOMED CT",
    ),
    "MedicationRequest": _coded("medications", "j.subject.reference", _DMD, "j.authoredOn", "dm+d"),
    "MedicationStatement": _coded(
        "medications", "j.subject.reference", _DMD, "coalesce(j.effectiveDateTime, j.dateAsserted)", "dm+d"
    ),
    "Immunization": _coded(
        "vaccinations", "j.patient.reference", "j.vaccineCode.coding[1].code", "j.occurrenceDateTime", "vaccine"
    ),
    "Encounter": Mapping(
        "encounters",
        {"pid_ref": "j.subject.reference", "date_t": "j.period.start", "encounter_type": "j.class.code"},
    ),
}


def structure(rtype: str) -> str:
    return json.dumps(STRUCTURES[rtype])


def lines_source(path: Path) -> str:
    """SQL relation (_line, text) over a text file's physical lines, blank lines kept so numbers stay true."""
    return (
        f"(SELECT row_number() OVER () AS _line, line AS text FROM read_csv({lit(str(path))}, "
        "columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', quote = '', escape = '', "
        f"auto_detect = false, strict_mode = false, max_line_size = {MAX_LINE_BYTES}))"
    )


def bundle_source(path: Path) -> str:
    """SQL relation (_line, _full_url, rtype, text) over a Bundle's entries; _line is the 1-based entry index."""
    return f"""(
        SELECT _line, e ->> 'fullUrl' AS _full_url, e -> 'resource' ->> 'resourceType' AS rtype,
            CAST(e -> 'resource' AS VARCHAR) AS text
        FROM (
            SELECT unnest(generate_series(1, len(entry))) AS _line, unnest(entry) AS e
            FROM read_json({lit(str(path))}, format = 'unstructured', records = true,
                columns = {{'entry': 'JSON[]'}}, maximum_object_size = {1 << 30})
        )
    )"""


def duckdb_type(spec: object) -> str:
    """DuckDB type for a json_transform structure (so read_json can parse straight into it)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return f"{duckdb_type(spec[0])}[]"
    if isinstance(spec, dict):
        return "STRUCT(" + ", ".join(f'"{k}" {duckdb_type(v)}' for k, v in spec.items()) + ")"
    raise TypeError(f"unsupported structure element {spec!r}")


def _read_json_columns(rtype: str) -> str:
    return "{" + ", ".join(f"{lit(k)}: {lit(duckdb_type(v))}" for k, v in STRUCTURES[rtype].items()) + "}"


def _load_ndjson_fast(con: duckdb.DuckDBPyConnection, path: Path, name: str, rtype: str, physical_lines: int) -> bool:
    """Parse with read_json straight into typed columns (several times faster than line-by-line parsing).

    Only valid when every physical line is one JSON object: read_json rejects the file on a broken
    line (DuckDB error) and silently skips blank lines, so the row count is compared with the file's
    physical line count; on any difference the rows are withdrawn and the caller takes the slow path.
    """
    table = f"_c_{MAPPINGS[rtype].table}"
    before = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    source = (
        f"(SELECT row_number() OVER () AS _line, CAST(NULL AS VARCHAR) AS _full_url, t AS j "
        f"FROM read_json({lit(str(path))}, format = 'newline_delimited', columns = {_read_json_columns(rtype)}, "
        f"maximum_object_size = {MAX_LINE_BYTES}) t)"
    )
    try:
        _insert_candidates(con, name, rtype, source)
    except duckdb.Error:
        con.execute(f"DELETE FROM {table} WHERE _file = ?", [name])
        return False
    got = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) - before
    if got != physical_lines:
        con.execute(f"DELETE FROM {table} WHERE _file = ?", [name])
        return False
    return True


def load_ndjson(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, rtype: str | None, physical_lines: int | None = None
) -> int:
    """Parse one NDJSON file into the GP candidate tables; returns received (non-blank lines).

    `rtype` is the type the file name promises (Observation.ndjson). When it is one Carecommons
    loads, the file is parsed in a single pass straight into its typed struct (the fast path: no
    copy of the text is kept; raw lines are re-read later only for quarantined rows). Resources of
    another type in it are quarantined, because a mislabelled file usually means a broken export.
    """
    if rtype not in MAPPINGS:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _lines AS
            SELECT _line, CAST(NULL AS VARCHAR) AS _full_url,
                CASE WHEN text IS NULL OR trim(text) = '' THEN NULL ELSE text END AS text,
                try(json_extract_string(text, '$.resourceType')) AS rtype
            FROM {lines_source(path)}
        """)
        return _dispatch(con, name)
    if physical_lines and _load_ndjson_fast(con, path, name, rtype, physical_lines):
        return physical_lines
    table = f"_c_{MAPPINGS[rtype].table}"
    before = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    # Slow path, one pass: every non-blank line becomes a candidate row; a line that is not JSON keeps j NULL
    # and gets its reason here, so it is quarantined with its line number like any other failure.
    _insert_candidates(
        con,
        name,
        rtype,
        f"(SELECT _line, CAST(NULL AS VARCHAR) AS _full_url, try(json_transform(text, {lit(structure(rtype))})) AS j "
        f"FROM {lines_source(path)} WHERE text IS NOT NULL AND trim(text) <> '')",
    )
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) - before


def _insert_candidates(con: duckdb.DuckDBPyConnection, name: str, rtype: str, source: str) -> None:
    """Map parsed structs `j` of one resource type (rows of `source`) into their candidate table."""
    m = MAPPINGS[rtype]
    cols = ", ".join(m.columns)
    exprs = ", ".join(m.columns.values())
    wrong_type = f"j.resourceType IS DISTINCT FROM {lit(rtype)}"
    pre_field = f"CASE WHEN j IS NULL THEN NULL WHEN {wrong_type} THEN 'resourceType' ELSE {m.pre_field} END"
    pre_reason = (
        f"CASE WHEN j IS NULL THEN {lit('line is not valid JSON; re-export this resource')} WHEN {wrong_type} THEN "
        f"{lit(f'resource is not a {rtype} but the file holds {rtype} resources; {FIX_AT_SOURCE}')} "
        f"ELSE {m.pre_reason} END"
    )
    con.execute(f"""
        INSERT INTO _c_{m.table} (_file, _line, _rtype, _raw, _pre_field, _pre_reason, {cols})
        SELECT {lit(name)}, _line, {lit(rtype)}, NULL, {pre_field}, {pre_reason}, {exprs}
        FROM {source}
    """)


def load_bundle(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> int:
    """Parse one Bundle into the GP candidate tables; returns received (entries, or 1 if unreadable)."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT * FROM {bundle_source(path)}")
    except duckdb.Error:
        con.execute(
            "INSERT INTO _q_pre VALUES (?, NULL, 'Bundle', NULL, ?, NULL)",
            [name, "file is not a readable FHIR Bundle (invalid JSON or no entry array); re-export the Bundle"],
        )
        return 1
    return _dispatch(con, name)


def _dispatch(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Route parsed lines in `_lines` to candidate tables; unusable lines go to `_q_pre`."""
    received = int(con.execute("SELECT count(*) FROM _lines WHERE text IS NOT NULL").fetchone()[0])
    types = [r[0] for r in con.execute("SELECT DISTINCT rtype FROM _lines WHERE text IS NOT NULL").fetchall()]
    known = [t for t in types if t in MAPPINGS]
    handled_sql = ", ".join(lit(t) for t in known) or "NULL"
    # Lines that are not JSON, or whose resourceType Carecommons does not load, are rejected as a whole.
    con.execute(f"""
        INSERT INTO _q_pre
        SELECT {lit(name)}, _line, rtype, CASE WHEN json_valid(text) THEN 'resourceType' END,
            CASE WHEN NOT json_valid(text) THEN {lit("line is not valid JSON; re-export this resource")}
                 ELSE {lit("resource type is not one Carecommons loads (Patient, EpisodeOfCare, Condition, Observation, Procedure, MedicationRequest, MedicationStatement, Immunization, Encounter); remove it from the export")}
            END, NULL
        FROM _lines
        WHERE text IS NOT NULL AND (NOT json_valid(text) OR rtype IS NULL OR rtype NOT IN ({handled_sql}))
    """)
    for rtype in known:
        _insert_candidates(
            con,
            name,
            rtype,
            f"(SELECT _line, _full_url, json_transform(text, {lit(structure(rtype))}) AS j FROM _lines "
            f"WHERE text IS NOT NULL AND rtype = {lit(rtype)} AND json_valid(text))",
        )
    return received
