"""Validation of a GP extract: candidate rows in, `_v_<table>` temp tables out (typed values + reason).

Adapters (FHIR, CSV) fill the candidate tables `_c_<table>` with text columns under canonical names;
everything after that is shared, so a FHIR practice and a CSV practice are judged by the same rules.
Each `_v_<table>` holds every candidate row with the canonical typed columns and `_field`/`_reason`
(NULL when the row is good). Rules are checked in order and the first failure is reported, so a
person fixes the most basic problem first.

Dates after the extract date are "in the future": nothing real can be recorded after it was extracted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb

from carecommons.core.nhs_number import sql_is_valid
from carecommons.ingest.codes import build_code_check
from carecommons.ingest.sql import FIX_AT_SOURCE, Rule, blank_to_null, first_failure, full_date, lit, patient_key

META = "_file VARCHAR, _line BIGINT, _rtype VARCHAR, _raw VARCHAR, _pre_field VARCHAR, _pre_reason VARCHAR"

#: Candidate table columns (all VARCHAR) after the META columns, per canonical table.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "patients": (
        "pid_ref",
        "nhs_number",
        "given_name",
        "family_name",
        "dob_t",
        "sex_t",
        "postcode",
        "lsoa",
        "ethnicity_code",
        "dod_t",
    ),
    "registrations": ("pid_ref", "practice_t", "start_t", "end_t"),
    "events": ("pid_ref", "code", "date_t", "value_t", "unit_t"),
    "medications": ("pid_ref", "code", "date_t"),
    "vaccinations": ("pid_ref", "code", "date_t"),
    "encounters": ("pid_ref", "date_t", "encounter_type"),
}

GP_TABLES = tuple(CANDIDATES)


def create_candidates(con: duckdb.DuckDBPyConnection) -> None:
    """Empty candidate tables and the pre-quarantine table (rows that never parsed)."""
    for table, cols in CANDIDATES.items():
        col_sql = ", ".join(f"{c} VARCHAR" for c in cols)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _c_{table} ({META}, {col_sql})")
    create_prequarantine(con)


def create_prequarantine(con: duckdb.DuckDBPyConnection) -> None:
    """`_q_pre`: rows rejected before they reached a table (bad JSON, wrong resource type)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _q_pre (_file VARCHAR, _line BIGINT, _rtype VARCHAR, _field VARCHAR, "
        "_reason VARCHAR, _raw VARCHAR)"
    )


def _f(fields: Mapping[str, str], name: str) -> str:
    return fields.get(name, name)


def _pre_rule() -> Rule:
    return Rule("", "_pre_reason IS NOT NULL", "", reason_sql="_pre_reason")


def _pre_field_sql(field_sql: str) -> str:
    return f"CASE WHEN _pre_reason IS NOT NULL THEN _pre_field ELSE {field_sql} END"


def date_rules(col: str, field: str, label: str, ref: dt.date, required: bool, dob: str | None = None) -> list[Rule]:
    typed = full_date(col)
    rules = []
    if required:
        rules.append(Rule(field, f"{col} IS NULL", f"{label} is missing; {FIX_AT_SOURCE}"))
    rules += [
        Rule(
            field,
            f"{col} IS NOT NULL AND {typed} IS NULL",
            f"{label} is not a date in YYYY-MM-DD form; {FIX_AT_SOURCE}",
        ),
        Rule(
            field,
            f"{typed} > DATE {lit(ref.isoformat())}",
            f"{label} is after the extract date (in the future); {FIX_AT_SOURCE}",
        ),
    ]
    if dob is not None:
        rules.append(Rule(field, f"{typed} < {dob}", f"{label} is before the patient's date of birth; {FIX_AT_SOURCE}"))
    return rules


def validate(con: duckdb.DuckDBPyConnection, org: str, extract_date: dt.date, fields: Mapping[str, str]) -> None:
    """Build `_v_<table>` for every GP table from the `_c_<table>` candidates.

    `fields` maps canonical names to the sender's names (a FHIR path or a CSV column) so each
    quarantine row points at the field as the sender knows it.
    """
    build_code_check(
        con,
        [
            ("_c_events", "code"),
            ("_c_medications", "code"),
            ("_c_vaccinations", "code"),
            ("_c_patients", "ethnicity_code"),
        ],
    )
    _validate_patients(con, org, extract_date, fields)
    _patient_status(con)
    _validate_registrations(con, org, extract_date, fields)
    _validate_events(con, org, extract_date, fields)
    for table in ("medications", "vaccinations"):
        _validate_coded(con, table, org, extract_date, fields)
    _validate_encounters(con, org, extract_date, fields)


def _validate_patients(con: duckdb.DuckDBPyConnection, org: str, ref: dt.date, fields: Mapping[str, str]) -> None:
    sex_upper = "upper(trim(sex_t))"
    sex_map = (
        f"CASE WHEN sex_t IS NULL THEN 'U' WHEN {sex_upper} IN ('F', 'FEMALE') THEN 'F' "
        f"WHEN {sex_upper} IN ('M', 'MALE') THEN 'M' WHEN {sex_upper} IN ('U', 'UNKNOWN', 'OTHER', 'I') THEN 'U' END"
    )
    dob = full_date("dob_t")
    rules = [
        _pre_rule(),
        Rule(_f(fields, "patient_id"), "_pid IS NULL", f"patient id is missing; {FIX_AT_SOURCE}"),
        Rule(
            _f(fields, "patient_id"),
            "_dup_rank > 1",
            "",
            reason_sql="'duplicate patient id: the first record with it is ' || _dup_file || ' line ' || _dup_line"
            " || '; send each patient once per extract'",
        ),
        Rule(
            _f(fields, "nhs_number"),
            f"nhs_number IS NOT NULL AND NOT {sql_is_valid('nhs_number')}",
            "NHS number is not 10 digits with a valid Modulus 11 check digit; correct it at source, "
            "or leave it empty if it is not known",
        ),
        *date_rules("dob_t", _f(fields, "date_of_birth"), "date of birth", ref, required=True),
        Rule(
            _f(fields, "sex"),
            f"({sex_map}) IS NULL",
            f"sex/gender is not one of F, M, U (or male, female, unknown, other); {FIX_AT_SOURCE}",
        ),
        *date_rules("dod_t", _f(fields, "date_of_death"), "date of death", ref, required=False, dob=dob),
        Rule(
            _f(fields, "ethnicity_code"),
            "ethnicity_code IS NOT NULL AND NOT coalesce(_code_valid, FALSE)",
            f"ethnicity code is not a well-formed SNOMED CT id (6-18 digits, Verhoeff check digit); {FIX_AT_SOURCE}",
        ),
    ]
    field_sql, reason_sql = first_failure(rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_patients AS
        WITH c AS (
            SELECT * EXCLUDE (nhs_number, given_name, family_name, postcode, lsoa, ethnicity_code, dob_t, dod_t, sex_t),
                {blank_to_null("nhs_number")} AS nhs_number, {blank_to_null("given_name")} AS given_name,
                {blank_to_null("family_name")} AS family_name, {blank_to_null("postcode")} AS postcode,
                {blank_to_null("lsoa")} AS lsoa, {blank_to_null("ethnicity_code")} AS ethnicity_code,
                {blank_to_null("dob_t")} AS dob_t, {blank_to_null("dod_t")} AS dod_t, {blank_to_null("sex_t")} AS sex_t,
                {patient_key(blank_to_null("pid_ref"), org)} AS _pid
            FROM _c_patients
        ), d AS (
            SELECT c.*, k.ok AS _code_valid,
                row_number() OVER w AS _dup_rank,
                first_value(_file) OVER w AS _dup_file, first_value(_line) OVER w AS _dup_line
            FROM c LEFT JOIN _code_ok k ON k.code = c.ethnicity_code
            WINDOW w AS (PARTITION BY _pid ORDER BY _file, _line)
        )
        SELECT _pid AS patient_id, nhs_number, given_name, family_name, {dob} AS date_of_birth,
            {sex_map} AS sex, postcode, d.lsoa, l.imd_decile, ethnicity_code, e.label_16 AS ethnicity_16,
            e.label_6 AS ethnicity_6, {full_date("dod_t")} AS date_of_death,
            {lit(org)} AS practice_id, _file, _line, _rtype, _raw, _dup_rank,
            {_pre_field_sql(field_sql)} AS _field, {reason_sql} AS _reason
        FROM d LEFT JOIN _ref_lsoa l ON l.lsoa = d.lsoa LEFT JOIN _ref_eth e ON e.code = d.ethnicity_code
    """)


def _patient_status(con: duckdb.DuckDBPyConnection) -> None:
    """`_pstat`: per patient id, whether its (first) record loaded, its date of birth and where it is."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _pstat AS
        SELECT patient_id AS pid, _reason IS NULL AS ok, date_of_birth AS dob, _file AS pfile, _line AS pline
        FROM _v_patients WHERE patient_id IS NOT NULL AND _dup_rank = 1
    """)


def _patient_rules(fields: Mapping[str, str]) -> list[Rule]:
    f = fields.get("patient_ref", "patient_id")
    return [
        Rule(f, "_pid IS NULL", f"patient reference is missing; {FIX_AT_SOURCE}"),
        Rule(
            f,
            "_p_ok IS NULL",
            "no patient record with this id in the extract; send the patient's record in the same extract",
        ),
        Rule(
            f,
            "NOT _p_ok",
            "",
            reason_sql="'the patient''s own record was quarantined (' || _p_file || ' line ' || _p_line || '); "
            "fix that record and re-send the extract'",
        ),
    ]


def _patient_ctes(org: str, table: str) -> str:
    """CTEs ending in `c`: candidate rows with their patient key and the patient's status.

    A patient has dozens of rows, so the key (a regex and maybe an MD5) and the `_pstat` lookup are
    computed once per DISTINCT reference and joined back: one cheap hash join instead of per-row work.
    A NULL reference matches nothing, so its `_pid` is NULL exactly as patient_key would give.
    """
    return f"""
        r AS (
            SELECT ref, {patient_key(blank_to_null("ref"), org)} AS _pid
            FROM (SELECT DISTINCT pid_ref AS ref FROM _c_{table} WHERE pid_ref IS NOT NULL)
        ), k AS (
            SELECT r.ref, r._pid, p.ok AS _p_ok, p.dob AS _p_dob, p.pfile AS _p_file, p.pline AS _p_line
            FROM r LEFT JOIN _pstat p ON p.pid = r._pid
        ), c AS (
            SELECT t.* EXCLUDE (pid_ref), k._pid, k._p_ok, k._p_dob, k._p_file, k._p_line
            FROM _c_{table} t LEFT JOIN k ON k.ref = t.pid_ref
        )"""


def _with_patient(org: str, table: str, extra_select: str = "", extra_join: str = "") -> str:
    """A query over the candidate rows with their patient key and status (see :func:`_patient_ctes`)."""
    return f"""
        WITH {_patient_ctes(org, table)}
        SELECT c.* {extra_select}
        FROM c {extra_join}
    """


def _validate_registrations(con: duckdb.DuckDBPyConnection, org: str, ref: dt.date, fields: Mapping[str, str]) -> None:
    start, end = full_date("start_t"), full_date("end_t")
    prac = f"coalesce({blank_to_null('practice_t')}, {lit(org)})"
    rules = [
        _pre_rule(),
        *_patient_rules(fields),
        Rule(
            _f(fields, "practice_id"),
            f"NOT regexp_full_match({prac}, '[A-Z0-9]{{3,10}}')",
            f"practice is not an ODS code; {FIX_AT_SOURCE}",
        ),
        *date_rules("start_t", _f(fields, "start_date"), "registration start date", ref, required=True),
        *date_rules("end_t", _f(fields, "end_date"), "registration end date", ref, required=False),
        Rule(_f(fields, "end_date"), f"{end} < {start}", f"registration ends before it starts; {FIX_AT_SOURCE}"),
    ]
    field_sql, reason_sql = first_failure(rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_registrations AS
        SELECT _pid AS patient_id, {prac} AS practice_id, {start} AS start_date, {end} AS end_date,
            _file, _line, _rtype, _raw, {_pre_field_sql(field_sql)} AS _field, {reason_sql} AS _reason
        FROM ({_with_patient(org, "registrations")})
    """)


def _code_rules(fields: Mapping[str, str], system: str) -> list[Rule]:
    f = _f(fields, "code")
    return [
        Rule(f, "code IS NULL", f"code is missing; {FIX_AT_SOURCE}"),
        Rule(
            f,
            "NOT coalesce(_code_valid, FALSE)",
            f"code is not a well-formed {system} id (6-18 digits, no leading zero, Verhoeff check digit); "
            f"{FIX_AT_SOURCE}",
        ),
    ]


def _validate_events(con: duckdb.DuckDBPyConnection, org: str, ref: dt.date, fields: Mapping[str, str]) -> None:
    num = "TRY_CAST(value_t AS DOUBLE)"
    rules = [
        _pre_rule(),
        *_patient_rules(fields),
        *_code_rules(fields, "SNOMED CT"),
        *date_rules("date_t", _f(fields, "date"), "date", ref, required=True, dob="_p_dob"),
        Rule(
            _f(fields, "value"),
            f"value_t IS NOT NULL AND ({num} IS NULL OR NOT isfinite({num}))",
            f"value is not a number; {FIX_AT_SOURCE}",
        ),
        Rule(
            _f(fields, "unit"),
            "value_t IS NOT NULL AND unit_t IS NOT NULL AND _u_canonical IS NULL",
            "unit cannot be normalised to a UCUM unit Carecommons knows (e.g. mm[Hg], mmol/mol, mmol/L, kg/m2, %); "
            "record the value in a standard UCUM unit",
        ),
        Rule(
            _f(fields, "code"),
            "_dup_rank > 1",
            "",
            reason_sql="'duplicate event (same patient, code, date, value and unit) of ' || _dup_file || ' line ' "
            "|| _dup_line || '; remove the repeat at source'",
        ),
    ]
    field_sql, reason_sql = first_failure(rules)
    # HbA1c sent as DCCT % becomes IFCC mmol/mol (units.dcct_to_ifcc); other units scale linearly.
    value = (
        f"CASE WHEN value_t IS NULL THEN NULL WHEN _is_hba1c AND _u_canonical = '%' "
        f"THEN ({num} - 2.15) * 10.929 ELSE {num} * _u_factor + _u_offset END"
    )
    unit = "CASE WHEN value_t IS NULL THEN NULL WHEN _is_hba1c AND _u_canonical = '%' THEN 'mmol/mol' ELSE _u_canonical END"
    # One statement, no intermediate table: materialising the joined rows (about 25 columns) cost more than
    # every join and rule together. Duplicates are rare, so one 64-bit hash per row finds candidate repeats
    # cheaply (hash() treats NULLs alike, as IS NOT DISTINCT FROM does); only those rows are grouped exactly,
    # so a hash collision can never mark two different events as duplicates.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_events AS
        WITH {_patient_ctes(org, "events")}, rep AS (
            SELECT hash(_pid, code, date_t, value_t, unit_t) AS h FROM c GROUP BY h HAVING count(*) > 1
        ), dup AS (
            SELECT _pid, code, date_t, value_t, unit_t, min({{'f': _file, 'l': _line}}) AS _first
            FROM c WHERE hash(_pid, code, date_t, value_t, unit_t) IN (SELECT h FROM rep)
            GROUP BY ALL HAVING count(*) > 1
        ), d AS (
            SELECT c.*, ok.ok AS _code_valid, u.canonical AS _u_canonical, u.factor AS _u_factor,
                u.offset_ AS _u_offset, h.code IS NOT NULL AS _is_hba1c,
                CASE WHEN dup._first IS NULL OR {{'f': c._file, 'l': c._line}} = dup._first THEN 1 ELSE 2 END AS _dup_rank,
                dup._first.f AS _dup_file, dup._first.l AS _dup_line
            FROM c
            LEFT JOIN _code_ok ok ON ok.code = c.code
            LEFT JOIN _unit_map u ON u.raw = trim(c.unit_t)
            LEFT JOIN _hba1c_codes h ON h.code = c.code
            LEFT JOIN dup ON dup._pid IS NOT DISTINCT FROM c._pid AND dup.code IS NOT DISTINCT FROM c.code
                AND dup.date_t IS NOT DISTINCT FROM c.date_t AND dup.value_t IS NOT DISTINCT FROM c.value_t
                AND dup.unit_t IS NOT DISTINCT FROM c.unit_t
        )
        SELECT _pid AS patient_id, {lit(org)} AS practice_id, code, {full_date("date_t")} AS date,
            {value} AS value, {unit} AS unit,
            _file, _line, _rtype, _raw, {_pre_field_sql(field_sql)} AS _field, {reason_sql} AS _reason
        FROM d
    """)


def _validate_coded(
    con: duckdb.DuckDBPyConnection, table: str, org: str, ref: dt.date, fields: Mapping[str, str]
) -> None:
    system = "dm+d" if table == "medications" else "SNOMED CT or dm+d"
    fields = {**fields, "code": fields.get(f"{table}.code", fields.get("code", "code"))}  # e.g. CSV dmd_code
    rules = [
        _pre_rule(),
        *_patient_rules(fields),
        *_code_rules(fields, system),
        *date_rules("date_t", _f(fields, "date"), "date", ref, required=True, dob="_p_dob"),
    ]
    field_sql, reason_sql = first_failure(rules)
    base = _with_patient(
        org, table, extra_select=", k.ok AS _code_valid", extra_join="LEFT JOIN _code_ok k ON k.code = c.code"
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_{table} AS
        SELECT _pid AS patient_id, {lit(org)} AS practice_id, code, {full_date("date_t")} AS date,
            _file, _line, _rtype, _raw, {_pre_field_sql(field_sql)} AS _field, {reason_sql} AS _reason
        FROM ({base})
    """)


def _validate_encounters(con: duckdb.DuckDBPyConnection, org: str, ref: dt.date, fields: Mapping[str, str]) -> None:
    rules = [
        _pre_rule(),
        *_patient_rules(fields),
        *date_rules("date_t", _f(fields, "date"), "date", ref, required=True, dob="_p_dob"),
    ]
    field_sql, reason_sql = first_failure(rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_encounters AS
        SELECT _pid AS patient_id, {lit(org)} AS practice_id, {full_date("date_t")} AS date,
            {blank_to_null("encounter_type")} AS encounter_type,
            _file, _line, _rtype, _raw, {_pre_field_sql(field_sql)} AS _field, {reason_sql} AS _reason
        FROM ({_with_patient(org, "encounters")})
    """)
