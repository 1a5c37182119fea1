"""Social-care and hospital feeds: noisy identifiers, validated like GP data, linked later by identity.

Social care: one clients.csv per local-authority extract (docs/source-formats.md).
Hospital: FHIR Bundles of discharges; a discharge is a Patient, an Encounter and a Condition. Every
Bundle entry is accounted for: a Patient or Condition whose discharge cannot load is quarantined
with a reason pointing at the entry that failed, so received = loaded + quarantined counts entries.
"""

from __future__ import annotations

import duckdb

from carecommons.core.errors import InvalidInput
from carecommons.core.nhs_number import sql_is_valid
from carecommons.ingest import csvfiles, fhir
from carecommons.ingest.codes import build_code_check
from carecommons.ingest.discovery import Extract
from carecommons.ingest.sql import FIX_AT_SOURCE, Rule, first_failure, full_date, lit
from carecommons.ingest.staging import Staged
from carecommons.ingest.validate_gp import create_prequarantine, date_rules

_NHS_RULE = (
    "NHS number is not 10 digits with a valid Modulus 11 check digit; correct it at source, "
    "or leave it empty if it is not known"
)
_SEX = (
    "CASE WHEN {c} IS NULL THEN NULL WHEN upper({c}) IN ('F', 'FEMALE') THEN 'F' "
    "WHEN upper({c}) IN ('M', 'MALE') THEN 'M' WHEN upper({c}) IN ('U', 'UNKNOWN', 'OTHER', 'I') THEN 'U' END"
)

SOCIAL_COLUMNS = (
    "record_id",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "local_authority",
    "service_type",
    "start_date",
    "end_date",
)


def stage_social_care(con: duckdb.DuckDBPyConnection, ex: Extract) -> Staged:
    """Validate a local authority's clients.csv into `_v_social`."""
    create_prequarantine(con)
    st = Staged(account=["_v_social", "_q_pre"], inserts=[("social_care_records", "_v_social")])
    files = [f for f in ex.files if f.path.suffix.lower() == ".csv"]
    if not files:
        raise InvalidInput(str(ex.directory), "social-care extract has no clients.csv", "send clients.csv")
    parts = []
    for f in files:
        csvfiles.require_columns(con, f.path, f.name, ["record_id", "nhs_number", "date_of_birth", "start_date"])
        present = set(csvfiles.header(con, f.path))
        cols = ", ".join(
            (f"NULLIF(trim(\"{c}\"), '')" if c in present else "CAST(NULL AS VARCHAR)") + f" AS {c}"
            for c in SOCIAL_COLUMNS
        )
        parts.append(f"SELECT {lit(f.name)} AS _file, _line, {cols} FROM {csvfiles.csv_source(f.path)}")
        st.raw_kind[f.name] = ("lines", f.path)
    con.execute("CREATE OR REPLACE TEMP TABLE _c_social AS " + " UNION ALL ".join(parts))
    for f in files:
        st.received[f.name] = int(con.execute("SELECT count(*) FROM _c_social WHERE _file = ?", [f.name]).fetchone()[0])
    ref = ex.extract_date
    sex = _SEX.format(c="sex")
    rules = [
        Rule("record_id", "record_id IS NULL", f"record_id is missing; {FIX_AT_SOURCE}"),
        Rule(
            "record_id",
            "_dup_rank > 1",
            "",
            reason_sql="'duplicate record_id: first at line ' || _dup_line || '; send each client once'",
        ),
        Rule("nhs_number", f"nhs_number IS NOT NULL AND NOT {sql_is_valid('nhs_number')}", _NHS_RULE),
        *date_rules("date_of_birth", "date_of_birth", "date of birth", ref, required=False),
        Rule("sex", f"sex IS NOT NULL AND ({sex}) IS NULL", f"sex is not one of F, M, U; {FIX_AT_SOURCE}"),
        *date_rules(
            "start_date", "start_date", "service start date", ref, required=False, dob=full_date("date_of_birth")
        ),
        *date_rules("end_date", "end_date", "service end date", ref, required=False),
        Rule(
            "end_date",
            f"{full_date('end_date')} < {full_date('start_date')}",
            f"service ends before it starts; {FIX_AT_SOURCE}",
        ),
    ]
    field_sql, reason_sql = first_failure(rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_social AS
        WITH d AS (
            SELECT *, row_number() OVER w AS _dup_rank, first_value(_line) OVER w AS _dup_line
            FROM _c_social WINDOW w AS (PARTITION BY _file, record_id ORDER BY _line)
        )
        SELECT record_id, nhs_number, given_name, family_name, {full_date("date_of_birth")} AS date_of_birth,
            {sex} AS sex, postcode, coalesce(local_authority, {lit(ex.org)}) AS local_authority, service_type,
            {full_date("start_date")} AS start_date, {full_date("end_date")} AS end_date,
            _file, _line, 'Client' AS _rtype, CAST(NULL AS VARCHAR) AS _raw, {field_sql} AS _field, {reason_sql} AS _reason
        FROM d
    """)
    return st


_H_PATIENT = fhir.STRUCTURES["Patient"]
_H_ENCOUNTER = {
    "resourceType": "VARCHAR",
    "id": "VARCHAR",
    "subject": {"reference": "VARCHAR"},
    "period": {"start": "VARCHAR", "end": "VARCHAR"},
    "serviceProvider": {"reference": "VARCHAR", "identifier": {"value": "VARCHAR"}},
    "hospitalization": {"dischargeDisposition": {"coding": [{"code": "VARCHAR", "display": "VARCHAR"}]}},
}
_H_CONDITION = {
    "resourceType": "VARCHAR",
    "subject": {"reference": "VARCHAR"},
    "encounter": {"reference": "VARCHAR"},
    "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]},
}


def _ref_key(col: str) -> str:
    """A reference reduced to the key its target is known by: 'Patient/x' -> 'x'; urn:uuid stays whole."""
    return f"regexp_replace({col}, '^(Patient|Encounter)/', '')"


def stage_hospital(con: duckdb.DuckDBPyConnection, ex: Extract) -> Staged:
    """Validate a trust's discharge Bundles into `_v_hospital` (rows) and `_v_hentries` (accounting)."""
    import json

    create_prequarantine(con)
    st = Staged(account=["_v_hentries", "_q_pre"], inserts=[("hospital_records", "_v_hospital")])
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _h_lines (_file VARCHAR, _line BIGINT, _full_url VARCHAR, rtype VARCHAR, "
        "text VARCHAR)"
    )
    for f in ex.files:
        if f.path.suffix.lower() != ".json":
            raise InvalidInput(f.name, "hospital extracts hold FHIR Bundle .json files", "send discharges-NNN.json")
        st.raw_kind[f.name] = ("bundle", f.path)
        try:
            con.execute(
                f"INSERT INTO _h_lines SELECT {lit(f.name)}, _line, _full_url, rtype, text FROM {fhir.bundle_source(f.path)}"
            )
        except duckdb.Error:
            con.execute(
                "INSERT INTO _q_pre VALUES (?, NULL, 'Bundle', NULL, ?, NULL)",
                [f.name, "file is not a readable FHIR Bundle (invalid JSON or no entry array); re-export the Bundle"],
            )
            st.received[f.name] = 1
            continue
        st.received[f.name] = int(con.execute("SELECT count(*) FROM _h_lines WHERE _file = ?", [f.name]).fetchone()[0])
    con.execute("""
        INSERT INTO _q_pre
        SELECT _file, _line, rtype, 'resourceType',
            'entry is not a Patient, Encounter or Condition; a discharge Bundle holds only those', NULL
        FROM _h_lines WHERE rtype IS NULL OR rtype NOT IN ('Patient', 'Encounter', 'Condition')
    """)
    ref = ex.extract_date
    org = ex.org
    pat = fhir.MAPPINGS["Patient"].columns
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hp AS
        SELECT _file, _line, {pat["pid_ref"]} AS key, {pat["nhs_number"]} AS nhs_number,
            {pat["given_name"]} AS given_name, {pat["family_name"]} AS family_name, {pat["dob_t"]} AS dob_t,
            j.gender AS sex_t, {pat["postcode"]} AS postcode
        FROM (SELECT _file, _line, _full_url, json_transform(text, {lit(json.dumps(_H_PATIENT))}) AS j
              FROM _h_lines WHERE rtype = 'Patient')
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _he AS
        SELECT _file, _line, coalesce(j.id, _full_url) AS key, {_ref_key("j.subject.reference")} AS pkey,
            j.period.start AS start_t, j.period."end" AS end_t,
            coalesce(j.serviceProvider.identifier.value,
                     regexp_extract(j.serviceProvider.reference, '^Organization/(.+)$', 1)) AS trust_t,
            coalesce(j.hospitalization.dischargeDisposition.coding[1].display,
                     j.hospitalization.dischargeDisposition.coding[1].code) AS destination
        FROM (SELECT _file, _line, _full_url, json_transform(text, {lit(json.dumps(_H_ENCOUNTER))}) AS j
              FROM _h_lines WHERE rtype = 'Encounter')
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hc AS
        SELECT _file, _line, {_ref_key("j.subject.reference")} AS pkey, {_ref_key("j.encounter.reference")} AS ekey,
            {fhir.sct_code("j.code.coding")} AS code
        FROM (SELECT _file, _line, json_transform(text, {lit(json.dumps(_H_CONDITION))}) AS j
              FROM _h_lines WHERE rtype = 'Condition')
    """)
    build_code_check(con, [("_hc", "code")])
    sex = _SEX.format(c="sex_t")
    dob = full_date("dob_t")
    p_rules = [
        Rule("id", "key IS NULL", f"Patient has no id or fullUrl; {FIX_AT_SOURCE}"),
        Rule(
            "id",
            "_dup_rank > 1",
            "",
            reason_sql="'duplicate Patient id in the Bundle: first at entry ' || _dup_line || '; send each patient once'",
        ),
        Rule("identifier(nhs-number)", f"nhs_number IS NOT NULL AND NOT {sql_is_valid('nhs_number')}", _NHS_RULE),
        *date_rules("dob_t", "birthDate", "date of birth", ref, required=False),
        Rule(
            "gender",
            f"sex_t IS NOT NULL AND ({sex}) IS NULL",
            f"gender is not male, female, unknown or other; {FIX_AT_SOURCE}",
        ),
    ]
    pf, pr = first_failure(p_rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _vhp AS
        WITH d AS (SELECT *, row_number() OVER w AS _dup_rank, first_value(_line) OVER w AS _dup_line
                   FROM _hp WINDOW w AS (PARTITION BY _file, key ORDER BY _line))
        SELECT *, {pf} AS _field, {pr} AS _reason FROM d
    """)
    start, end = full_date("start_t"), full_date("end_t")
    e_rules = [
        Rule("subject", "pkey IS NULL", f"Encounter has no subject; {FIX_AT_SOURCE}"),
        Rule(
            "subject",
            "p_line IS NULL",
            "Encounter's subject is not a Patient in this Bundle; send the Patient in the same Bundle",
        ),
        Rule(
            "subject",
            "p_reason IS NOT NULL",
            "",
            reason_sql="'the discharge''s Patient (entry ' || p_line || ') was quarantined; fix it and re-send'",
        ),
        *date_rules("start_t", "period.start", "admission date", ref, required=True, dob="p_dob"),
        *date_rules("end_t", "period.end", "discharge date", ref, required=False),
        Rule("period.end", f"{end} < {start}", f"discharge is before admission; {FIX_AT_SOURCE}"),
    ]
    ef, er = first_failure(e_rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _vhe AS
        SELECT e.*, p._line AS p_line, p._reason AS p_reason, {dob.replace("dob_t", "p.dob_t")} AS p_dob,
            {ef.replace("pkey", "e.pkey")} AS _field, {er.replace("pkey", "e.pkey")} AS _reason
        FROM _he e LEFT JOIN (SELECT * FROM _vhp WHERE _dup_rank = 1) p ON p._file = e._file AND p.key = e.pkey
    """)
    c_rules = [
        Rule("subject", "pkey IS NULL", f"Condition has no subject; {FIX_AT_SOURCE}"),
        Rule(
            "subject",
            "e_line IS NULL",
            "no Encounter for this Condition's patient in this Bundle; send the discharge whole",
        ),
        Rule(
            "subject",
            "e_reason IS NOT NULL",
            "",
            reason_sql="'the discharge Encounter (entry ' || e_line || ') was quarantined; fix it and re-send'",
        ),
        Rule("code", "code IS NULL", "no SNOMED CT coding; add the SNOMED CT diagnosis code and re-send"),
        Rule(
            "code",
            "NOT coalesce(code_ok, FALSE)",
            f"code is not a well-formed SNOMED CT id (Verhoeff check); {FIX_AT_SOURCE}",
        ),
        Rule("code", "_c_rank > 1", "more than one Condition for this discharge; send only the primary diagnosis"),
    ]
    cf, cr = first_failure(c_rules)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _vhc AS
        WITH j AS (
            SELECT c.*, e._line AS e_line, e._reason AS e_reason, k.ok AS code_ok,
                row_number() OVER (PARTITION BY c._file, c.pkey, c.ekey ORDER BY c._line) AS _c_rank
            FROM _hc c
            LEFT JOIN (SELECT *, row_number() OVER (PARTITION BY _file, pkey ORDER BY _line) AS rk FROM _vhe) e
                ON e._file = c._file AND e.pkey = c.pkey AND (e.key = c.ekey OR (c.ekey IS NULL AND e.rk = 1))
            LEFT JOIN _code_ok k ON k.code = c.code
        )
        SELECT *, {cf} AS _field, {cr} AS _reason FROM j
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _v_hospital AS
        SELECT p.key AS record_id, p.nhs_number, p.given_name, p.family_name, {dob.replace("dob_t", "p.dob_t")} AS date_of_birth,
            {sex.replace("sex_t", "p.sex_t")} AS sex, p.postcode, coalesce(e.trust_t, {lit(org)}) AS trust_code,
            {start.replace("start_t", "e.start_t")} AS admission_date, {end.replace("end_t", "e.end_t")} AS discharge_date,
            c.code AS diagnosis_code, e.destination AS discharge_destination, CAST(NULL AS VARCHAR) AS _reason
        FROM _vhe e JOIN _vhp p ON p._file = e._file AND p.key = e.pkey AND p._dup_rank = 1
        LEFT JOIN (SELECT * FROM _vhc WHERE _reason IS NULL) c
            ON c._file = e._file AND c.pkey = e.pkey AND c.e_line = e._line
        WHERE e._reason IS NULL
    """)
    # Accounting: a valid Patient with no loadable Encounter cannot become a record either.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _v_hentries AS
        SELECT p._file, p._line, 'Patient' AS _rtype,
            CASE WHEN p._reason IS NOT NULL THEN p._field
                 WHEN NOT EXISTS (SELECT 1 FROM _vhe e WHERE e._file = p._file AND e.pkey = p.key AND e._reason IS NULL)
                 THEN 'id' END AS _field,
            CASE WHEN p._reason IS NOT NULL THEN p._reason
                 WHEN NOT EXISTS (SELECT 1 FROM _vhe e WHERE e._file = p._file AND e.pkey = p.key AND e._reason IS NULL)
                 THEN 'no loadable discharge Encounter for this Patient in the Bundle; send the discharge whole' END
                 AS _reason,
            CAST(NULL AS VARCHAR) AS _raw
        FROM _vhp p
        UNION ALL SELECT _file, _line, 'Encounter', _field, _reason, NULL FROM _vhe
        UNION ALL SELECT _file, _line, 'Condition', _field, _reason, NULL FROM _vhc
    """)
    return st
