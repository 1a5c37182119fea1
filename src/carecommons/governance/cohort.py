"""The data view: which patients a requester may see for its purpose, as a TEMP table in the record store.

This is where the access policy is enforced. Callers never filter patients themselves: they join to the
table this module creates, so a forgotten WHERE clause cannot leak a record. Everything is re-read from the
operational database on every call (no cache), so a patient's opt-out takes effect on the next query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import duckdb
import pyarrow as pa
from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied, InvalidInput
from carecommons.governance import audit
from carecommons.governance.agreements import Flow, covered_practices
from carecommons.governance.optouts import (
    DEFAULT_OPT_OUT_CONFIG,
    OptOutConfig,
    ndop_lists,
    platform_opted_out_ids,
    type1_sql,
)
from carecommons.governance.purposes import Purpose, Requester
from carecommons.governance.relationships import caseload, proxied_patients
from carecommons.governance.research import require_approved_project
from carecommons.governance.roles import BREAK_GLASS_ROLES, PRACTICE_ROLES, ROLE_PURPOSES, Role
from carecommons.store.models.governance import BreakGlassAlert, User

MIN_BREAK_GLASS_REASON = 10


def table_name(requester: Requester) -> str:
    """A TEMP table name unique to the requester, so two requesters on one connection never share a view."""
    key = "|".join(
        str(x)
        for x in (
            requester.user_id,
            requester.role,
            requester.org_id,
            requester.purpose,
            requester.project_id,
            bool(requester.break_glass_reason),
        )
    )
    return "gov_allowed_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _check_requester(session: Session, requester: Requester) -> tuple[Role, User]:
    """Gate 1: the requester is an active user, acting in their own role and organisation, for a permitted purpose."""
    try:
        role = Role(requester.role)
        purpose = Purpose(requester.purpose)
    except ValueError as err:
        raise AccessDenied(
            "requester", "unknown role or purpose", "act as a registered user with a valid purpose"
        ) from err
    user = session.get(User, requester.user_id)
    if user is None or not user.active:
        raise AccessDenied("requester", f"user {requester.user_id!r} is not an active account", "log in as a real user")
    if user.role != role.value or user.org_id != requester.org_id:
        raise AccessDenied(
            "requester",
            f"user {requester.user_id!r} does not hold role {role.value} at {requester.org_id!r}",
            "act in the role and organisation on your account",
        )
    if purpose not in ROLE_PURPOSES[role]:
        raise AccessDenied(
            "purpose", f"the {role.value} role may not act for {purpose.value}", "choose a purpose your role allows"
        )
    return role, user


def _break_glass(session: Session, requester: Requester, role: Role, patient_id: int | None) -> None:
    """Validate the reason, raise an alert for IG review and audit it. Only clinicians may break the glass."""
    reason = (requester.break_glass_reason or "").strip()
    if role not in BREAK_GLASS_ROLES:
        raise AccessDenied("break_glass", f"the {role.value} role may not break the glass", "ask a clinician")
    if len(reason) < MIN_BREAK_GLASS_REASON:
        raise AccessDenied(
            "break_glass_reason",
            f"a reason of at least {MIN_BREAK_GLASS_REASON} characters is required",
            "say why this record is needed now",
        )
    alert = BreakGlassAlert(
        user_id=requester.user_id, role=role.value, org_id=requester.org_id, reason=reason, patient_id=patient_id
    )
    session.add(alert)
    session.flush()
    audit.record(
        session,
        requester,
        "break_glass",
        [patient_id] if patient_id is not None else None,
        f"alert {alert.id} raised for IG review",
    )


def _ids_table(ids: Iterable[int]) -> pa.Table:
    return pa.table({"patient_id": pa.array(sorted(set(ids)), type=pa.int64())})


_SQL_TYPES = {pa.int64(): "BIGINT", pa.string(): "VARCHAR"}


def _materialise(con: duckdb.DuckDBPyConnection, name: str, sql: str, params: list[object], **inputs: pa.Table) -> str:
    """Run `sql` into TEMP table `name`, with the small Python-side lists (one column each) as TEMP tables.

    The lists go in as typed list parameters, not `con.register` of Arrow tables: registering raised DuckDB's
    "python_arrow_scan does not exist" intermittently under concurrent web requests (reliability finding 5).
    """
    for view, table in inputs.items():
        (col,) = table.column_names
        sql_type = _SQL_TYPES[table.schema.field(col).type]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT UNNEST(?::{sql_type}[]) AS {col}",
            [table.column(col).to_pylist()],
        )
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", params)
    finally:
        for view in inputs:
            con.execute(f"DROP TABLE IF EXISTS {view}")
    return name


def _direct_care(
    con: duckdb.DuckDBPyConnection, requester: Requester, session: Session, role: Role, user: User, today: dt.date
) -> tuple[str, list[object], dict[str, pa.Table]]:
    registered = (
        "SELECT DISTINCT patient_id FROM registrations WHERE practice_id IN (SELECT practice_id FROM {src}) "
        "AND start_date <= ? AND (end_date IS NULL OR end_date >= ?)"
    )
    if role in PRACTICE_ROLES:
        practices = pa.table({"practice_id": pa.array([requester.org_id], type=pa.string())})
        return registered.format(src="_gov_practices"), [today, today], {"_gov_practices": practices}
    if role is Role.MDT_MEMBER:
        practices = covered_practices(session, requester.org_id or "", Purpose.DIRECT_CARE, Flow.GP_TO_MDT, today)
        if not practices:
            raise AccessDenied(
                "data-sharing agreement",
                f"no gp->mdt agreement in force covers organisation {requester.org_id!r}",
                "ask the information-governance lead to put an MDT data-sharing agreement in place",
            )
        sql = (
            "SELECT DISTINCT r.patient_id FROM (" + registered.format(src="_gov_practices") + ") r "
            "JOIN _gov_caseload c USING (patient_id)"
        )
        return (
            sql,
            [today, today],
            {
                "_gov_practices": pa.table({"practice_id": pa.array(practices, type=pa.string())}),
                "_gov_caseload": _ids_table(caseload(session, requester.user_id)),
            },
        )
    if role is Role.PATIENT:
        own = [user.patient_id] if user.patient_id is not None else []
        return "SELECT patient_id FROM _gov_ids", [], {"_gov_ids": _ids_table(own)}
    if role is Role.CARER:
        return "SELECT patient_id FROM _gov_ids", [], {"_gov_ids": _ids_table(proxied_patients(session, user.user_id))}
    raise AccessDenied("role", f"the {role.value} role has no direct-care relationship", "use another role")


def _secondary_use(
    con: duckdb.DuckDBPyConnection, requester: Requester, session: Session, config: OptOutConfig, today: dt.date
) -> tuple[str, list[object], dict[str, pa.Table]]:
    purpose = Purpose(requester.purpose)
    if purpose is Purpose.RESEARCH:
        require_approved_project(session, requester, today)
    flow = Flow.GP_TO_RESEARCH if purpose is Purpose.RESEARCH else Flow.GP_TO_PLANNING
    practices = covered_practices(session, requester.org_id or "", purpose, flow, today)
    if not practices:
        raise AccessDenied(
            "data-sharing agreement",
            f"no {flow.value} agreement for {purpose.value} in force covers organisation {requester.org_id!r}",
            "ask the information-governance lead to put a data-sharing agreement in place",
        )
    t1_sql, dissent, withdraw = type1_sql(config)
    ndop_numbers, ndop_ids = ndop_lists(session)
    excluded_ids = ndop_ids | platform_opted_out_ids(session)
    sql = f"""
        SELECT DISTINCT p.patient_id FROM patients p
        WHERE p.practice_id IN (SELECT practice_id FROM _gov_practices)
          AND p.patient_id NOT IN (SELECT patient_id FROM _gov_excluded)
          AND (p.nhs_number IS NULL OR p.nhs_number NOT IN (SELECT nhs_number FROM _gov_ndop))
          AND p.patient_id NOT IN ({t1_sql})
    """
    inputs = {
        "_gov_practices": pa.table({"practice_id": pa.array(practices, type=pa.string())}),
        "_gov_excluded": _ids_table(excluded_ids),
        "_gov_ndop": pa.table({"nhs_number": pa.array(sorted(ndop_numbers), type=pa.string())}),
    }
    return sql, [*dissent, *withdraw], inputs


def allowed_patients(
    con: duckdb.DuckDBPyConnection,
    requester: Requester,
    session: Session,
    config: OptOutConfig | None = None,
    today: dt.date | None = None,
) -> str:
    """Create or replace a TEMP table (one column patient_id BIGINT) of exactly the patients this requester
    may see for its purpose, and return its name. Raises AccessDenied with the reason otherwise."""
    today = today or dt.date.today()
    role, user = _check_requester(session, requester)
    name = table_name(requester)
    purpose = Purpose(requester.purpose)
    if purpose is Purpose.DIRECT_CARE:
        if requester.break_glass_reason is not None:
            _break_glass(session, requester, role, None)
            return _materialise(con, name, "SELECT DISTINCT patient_id FROM patients", [])
        sql, params, inputs = _direct_care(con, requester, session, role, user, today)
    else:
        sql, params, inputs = _secondary_use(con, requester, session, config or DEFAULT_OPT_OUT_CONFIG, today)
    return _materialise(con, name, sql, params, **inputs)


def check_patient_access(
    con: duckdb.DuckDBPyConnection,
    requester: Requester,
    session: Session,
    patient_id: int,
    config: OptOutConfig | None = None,
    today: dt.date | None = None,
) -> None:
    """Raise AccessDenied unless the requester may see this one patient. Break-glass raises an alert naming
    the patient (by id, in the operational DB only) instead of for the whole population."""
    if not isinstance(patient_id, int):
        raise InvalidInput("patient_id", "must be an integer platform patient id", "pass the patient_id")
    if Purpose(requester.purpose) is Purpose.DIRECT_CARE and requester.break_glass_reason is not None:
        role, _user = _check_requester(session, requester)
        exists = con.execute("SELECT count(*) FROM patients WHERE patient_id = ?", [patient_id]).fetchone()
        if not exists or exists[0] == 0:
            raise AccessDenied("patient_id", "no such patient in the record store", "check the patient id")
        _break_glass(session, requester, role, patient_id)
        return
    name = allowed_patients(con, requester, session, config, today)
    row = con.execute(f"SELECT count(*) FROM {name} WHERE patient_id = ?", [patient_id]).fetchone()
    if not row or row[0] == 0:
        raise AccessDenied(
            "patient_id",
            f"no legitimate relationship or permission for this patient under {requester.purpose}",
            "check the patient is registered with you or on your caseload, or break the glass with a reason",
        )
