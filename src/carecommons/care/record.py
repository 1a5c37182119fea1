"""The linked patient record for direct care: GP record, hospital discharges and social-care episodes.

One function assembles everything a clinician reads at the start of a consultation: demographics,
disease registers, recent readings, medication, hospital and social-care history (linked through the
identity layer's person index), care gaps, care plans and open tasks. Access is decided by governance
(legitimate relationship, or break-glass with a reason, which raises an alert) and every view is
audited with its purpose. Hospital and social-care sections are shown only where a data-sharing
agreement lets that source flow to the requester's organisation; otherwise they say they are withheld.

Risk scores are computed by the risk layer, which care may not import; the web layer passes them in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from carecommons.care.access import require_patient
from carecommons.care.codes import codelist
from carecommons.care.patient_events import PatientEvents, read_patient_events
from carecommons.care.tasks import ACTIVE_STATUSES
from carecommons.care.worklists import WorklistItem, items_for_patient
from carecommons.core.errors import AccessDenied, NotFound
from carecommons.governance.agreements import Flow, require_flow
from carecommons.governance.audit import record as audit_record
from carecommons.governance.purposes import Purpose, Requester
from carecommons.governance.roles import Role
from carecommons.store.models.care import CarePlan, Task

_P = "nhsd-primary-care-domain-refsets-"

#: Registers shown on the record: (label, codelists that add, codelists that resolve).
REGISTERS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Hypertension", (f"{_P}hyp_cod",), (f"{_P}hypres_cod",)),
    ("Diabetes", (f"{_P}dm_cod",), (f"{_P}dmres_cod",)),
    ("Non-diabetic hyperglycaemia", (f"{_P}ndh_cod",), ()),
    ("Asthma", (f"{_P}ast_cod",), (f"{_P}astres_cod",)),
    ("COPD", (f"{_P}copd_cod",), (f"{_P}copdres_cod",)),
    ("Coronary heart disease", (f"{_P}chd_cod",), ()),
    ("Atrial fibrillation", (f"{_P}afib_cod",), ()),
    ("Heart failure", (f"{_P}hf_cod",), (f"{_P}hfres_cod",)),
    ("Stroke or TIA", (f"{_P}strk_cod", f"{_P}tia_cod"), ()),
    ("Chronic kidney disease (stage 3-5)", (f"{_P}ckd_cod",), (f"{_P}ckdres_cod",)),
    ("Peripheral arterial disease", (f"{_P}pad_cod",), ()),
    ("Dementia", (f"{_P}dem_cod",), ()),
    ("Depression", (f"{_P}depr_cod",), (f"{_P}depres_cod",)),
    ("Severe mental illness", (f"{_P}mh_cod",), ()),
    ("Learning disability", (f"{_P}ld_cod",), ()),
    ("Epilepsy", (f"{_P}epil_cod",), ()),
    ("Osteoporosis", (f"{_P}osteo_cod",), ()),
    ("Rheumatoid arthritis", (f"{_P}rarth_cod",), ()),
    ("Palliative care", (f"{_P}palcare_cod",), ()),
    ("Frailty (coded)", (f"{_P}mildfrail_cod", f"{_P}modfrail_cod", f"{_P}sevfrail_cod"), ()),
)

#: Readings shown on the record: (label, codelists, unit shown when the row has none).
READINGS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Systolic blood pressure", ("opensafely-systolic-blood-pressure-qof",), "mmHg"),
    ("Diastolic blood pressure", ("user-milanwiedemann-diastolic-blood-pressure-qof",), "mmHg"),
    ("HbA1c", ("opensafely-glycated-haemoglobin-hba1c-tests", f"{_P}ifcchbam_cod"), "mmol/mol"),
    ("Body mass index", ("gm-sde/bmi.snomed",), "kg/m2"),
    ("Total cholesterol", ("gm-sde/cholesterol.snomed",), "mmol/L"),
    ("eGFR", ("gm-sde/egfr.snomed",), "mL/min/1.73m2"),
)
READINGS_PER_MEASURE = 5


@dataclass(frozen=True)
class Demographics:
    patient_id: int
    nhs_number: str | None
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date
    age: int
    sex: str
    postcode: str | None
    ethnicity: str | None
    date_of_death: dt.date | None
    practice_id: str | None
    practice_name: str | None
    registered_since: dt.date | None


@dataclass(frozen=True)
class RegisterEntry:
    label: str
    first_recorded: dt.date
    last_recorded: dt.date


@dataclass(frozen=True)
class Reading:
    label: str
    date: dt.date
    value: float | None
    unit: str


@dataclass(frozen=True)
class Medication:
    code: str
    name: str
    first_issued: dt.date
    last_issued: dt.date
    issues: int


@dataclass(frozen=True)
class HospitalStay:
    record_id: str
    trust_code: str
    admission_date: dt.date | None
    discharge_date: dt.date | None
    diagnosis_code: str | None
    diagnosis: str
    discharge_destination: str | None


@dataclass(frozen=True)
class SocialCareEpisode:
    record_id: str
    local_authority: str
    service_type: str | None
    start_date: dt.date | None
    end_date: dt.date | None


@dataclass(frozen=True)
class RiskScore:
    """A score from the risk layer, as the web layer hands it in."""

    name: str
    value: float | None
    category: str
    detail: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    date: dt.date
    source: str  # "GP", "Hospital", "Social care"
    text: str


@dataclass
class PatientRecord:
    demographics: Demographics
    registers: list[RegisterEntry]
    readings: dict[str, list[Reading]]
    medications: list[Medication]
    hospital: list[HospitalStay]
    social_care: list[SocialCareEpisode]
    care_gaps: list[WorklistItem]
    risk_scores: list[RiskScore]
    care_plans: list[CarePlan]
    tasks: list[Task]
    withheld: list[str] = field(default_factory=list)
    linkage_available: bool = True
    break_glass: bool = False

    def timeline(self, limit: int = 50) -> list[TimelineEntry]:
        """GP, hospital and social-care events on one line of time, newest first."""
        out: list[TimelineEntry] = []
        for r in self.registers:
            out.append(TimelineEntry(r.first_recorded, "GP", f"{r.label} first recorded"))
        for label, readings in self.readings.items():
            for rd in readings:
                value = "" if rd.value is None else f" {rd.value:g} {rd.unit}"
                out.append(TimelineEntry(rd.date, "GP", f"{label}{value}"))
        for h in self.hospital:
            if h.admission_date:
                out.append(TimelineEntry(h.admission_date, "Hospital", f"Admitted ({h.trust_code}): {h.diagnosis}"))
            if h.discharge_date:
                dest = f" to {h.discharge_destination}" if h.discharge_destination else ""
                out.append(TimelineEntry(h.discharge_date, "Hospital", f"Discharged{dest}"))
        for s in self.social_care:
            if s.start_date:
                out.append(
                    TimelineEntry(
                        s.start_date, "Social care", f"{s.service_type or 'Service'} started ({s.local_authority})"
                    )
                )
            if s.end_date:
                out.append(TimelineEntry(s.end_date, "Social care", f"{s.service_type or 'Service'} ended"))
        out.sort(key=lambda e: e.date, reverse=True)
        return out[:limit]


def patient_record(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    patient_id: int,
    *,
    index_date: dt.date | None = None,
    risk_scores: Sequence[RiskScore] = (),
    linked_records: Sequence[tuple[str, str]] | None = None,
) -> PatientRecord:
    """The whole linked record of one patient, checked and audited as one view.

    `linked_records` is [(feed, record_id)] with feed "hospital" or "social_care"; when None the
    identity layer's `person_index` table in the record store is read (if linkage has run).
    """
    index = index_date or dt.date.today()
    require_patient(con, session, requester, patient_id)
    pid = int(patient_id)
    demo = _demographics(con, pid, index)
    linkage_available = True
    if linked_records is None:
        links = _links_from_person_index(con, pid)
        linkage_available = links is not None
        links = links or []
    else:
        links = list(linked_records)
    withheld: list[str] = []
    hospital = _hospital(con, [r for f, r in links if f == "hospital"])
    social = _social_care(con, [r for f, r in links if f == "social_care"])
    hospital = _shared(session, requester, hospital, lambda h: h.trust_code, Flow.HOSPITAL_TO_DIRECT_CARE, withheld)
    social = _shared(
        session, requester, social, lambda s: f"la:{s.local_authority}", Flow.SOCIAL_CARE_TO_DIRECT_CARE, withheld
    )
    history = read_patient_events(con, pid)  # one read of the patient's events for every GP section
    rec = PatientRecord(
        demographics=demo,
        registers=_registers(history, index),
        readings=_readings(history, index),
        medications=_medications(con, pid, index),
        hospital=hospital,
        social_care=social,
        care_gaps=items_for_patient(con, pid, index, events=history),
        risk_scores=list(risk_scores),
        care_plans=_active_plans(session, pid),
        tasks=_active_tasks(session, requester, pid),
        withheld=withheld,
        linkage_available=linkage_available,
        break_glass=requester.break_glass_reason is not None,
    )
    detail = f"sections=gp,hospital:{len(hospital)},social_care:{len(social)} purpose={requester.purpose.value}"
    if requester.break_glass_reason is not None:
        detail += " break_glass=yes"
    audit_record(session, requester, "record.view", [pid], detail=detail)
    return rec


def _active_plans(session: Session, pid: int) -> list[CarePlan]:
    """Active plans, read directly: access was checked once above (a second check would raise a second
    break-glass alert for the same look)."""
    return list(
        session.execute(
            select(CarePlan)
            .where(CarePlan.patient_id == pid, CarePlan.status == "active")
            .options(selectinload(CarePlan.goals), selectinload(CarePlan.actions))
            .order_by(CarePlan.updated_at.desc(), CarePlan.id.desc())
        ).scalars()
    )


def _active_tasks(session: Session, requester: Requester, pid: int) -> list[Task]:
    """Open tasks about the patient; patients and carers see their care plan, not professionals' task traffic."""
    if requester.role in (Role.PATIENT.value, Role.CARER.value):
        return []
    stmt = select(Task).where(Task.patient_id == pid, Task.status.in_(ACTIVE_STATUSES)).order_by(Task.due_date, Task.id)
    return list(session.execute(stmt).scalars())


def _shared(session: Session, requester: Requester, rows: list, source_org, flow: Flow, withheld: list[str]) -> list:
    """Keep rows whose source organisation has an agreement to share with the requester's organisation."""
    if not rows:
        return rows
    if requester.role in (Role.PATIENT.value, Role.CARER.value):
        return rows  # the patient's own information, seen by them or their consented proxy
    kept, refused = [], set()
    allowed_cache: dict[str, bool] = {}
    for row in rows:
        org = source_org(row)
        if org not in allowed_cache:
            try:
                require_flow(session, org, requester.org_id or "", Purpose.DIRECT_CARE, flow)
                allowed_cache[org] = True
            except (AccessDenied, NotFound):
                allowed_cache[org] = False
        if allowed_cache[org]:
            kept.append(row)
        else:
            refused.add(org)
    if refused:
        withheld.append(
            f"{len(rows) - len(kept)} {flow.value.split('->')[0].replace('_', ' ')} record(s) from "
            f"{', '.join(sorted(refused))}: no data-sharing agreement with your organisation"
        )
    return kept


def _age(dob: dt.date, index: dt.date) -> int:
    return index.year - dob.year - ((index.month, index.day) < (dob.month, dob.day))


def _demographics(con: duckdb.DuckDBPyConnection, pid: int, index: dt.date) -> Demographics:
    rows = con.execute(
        """
        SELECT p.nhs_number, p.given_name, p.family_name, p.date_of_birth, p.sex, p.postcode,
               p.ethnicity_16, p.date_of_death,
               r.practice_id, pr.name, r.start_date
        FROM (SELECT * FROM patients WHERE patient_id = $pid LIMIT 1) p
        LEFT JOIN (
            SELECT practice_id, start_date FROM registrations
            WHERE patient_id = $pid AND start_date <= $idx::DATE AND (end_date IS NULL OR end_date >= $idx::DATE)
            ORDER BY start_date DESC LIMIT 1
        ) r ON TRUE
        LEFT JOIN practices pr ON pr.practice_id = r.practice_id
        """,
        {"pid": pid, "idx": index},
    ).fetchall()
    row = rows[0] if rows else None
    if row is None:
        raise NotFound("patient", "no such patient in the record store", "check the patient id")
    nhs, given, family, dob, sex, postcode, eth, dod, practice, practice_name, since = row
    return Demographics(
        patient_id=pid,
        nhs_number=nhs,
        given_name=given,
        family_name=family,
        date_of_birth=dob,
        age=_age(dob, dod if dod and dod < index else index),
        sex=sex,
        postcode=postcode,
        ethnicity=eth,
        date_of_death=dod,
        practice_id=practice,
        practice_name=practice_name,
        registered_since=since,
    )


def _registers(events: PatientEvents, index: dt.date) -> list[RegisterEntry]:
    """Registers from the patient's GP events up to the index date: on a register when a code that adds is
    later than any code that resolves."""
    seen: dict[str, tuple[dt.date, dt.date]] = {}
    for list_id, row in events.tagged(n for _, add, res in REGISTERS for n in (*add, *res)):
        if row.source != "events" or row.date > index:
            continue
        first, last = seen.get(list_id, (row.date, row.date))
        seen[list_id] = (min(first, row.date), max(last, row.date))
    out = []
    for label, add, res in REGISTERS:
        adds = [seen[n] for n in add if n in seen]
        if not adds:
            continue
        first = min(a[0] for a in adds)
        last = max(a[1] for a in adds)
        resolved = max((seen[n][1] for n in res if n in seen), default=None)
        if resolved is not None and resolved >= last:
            continue
        out.append(RegisterEntry(label, first, last))
    return out


def _readings(events: PatientEvents, index: dt.date) -> dict[str, list[Reading]]:
    """The latest few distinct readings per measure (newest first, lowest value first on the same day, a
    missing value last), from the patient's GP events up to the index date."""
    tagged = events.tagged(n for _, lists, _ in READINGS for n in lists)
    out: dict[str, list[Reading]] = {}
    for label, lists, default_unit in READINGS:
        distinct = {
            (row.date, row.value, row.unit)
            for list_id, row in tagged
            if list_id in lists and row.source == "events" and row.date <= index
        }
        newest = sorted(distinct, key=lambda r: (-r[0].toordinal(), r[1] is None, r[1] or 0.0))
        if newest:
            out[label] = [Reading(label, d, v, u or default_unit) for d, v, u in newest[:READINGS_PER_MEASURE]]
    return out


def _medications(con: duckdb.DuckDBPyConnection, pid: int, index: dt.date, months: int = 12) -> list[Medication]:
    since = index - dt.timedelta(days=round(months * 30.44))
    rows = con.execute(
        """
        SELECT code, min(date), max(date), count(*)
        FROM medications WHERE patient_id = $pid AND date <= $idx::DATE AND date > $since::DATE
        GROUP BY code ORDER BY max(date) DESC, code
        """,
        {"pid": pid, "idx": index, "since": since},
    ).fetchall()
    return [Medication(code, _term(code), first, last, int(n)) for code, first, last, n in rows]


def _term(code: str | None) -> str:
    """A human name for a code from any codelist already parsed in this process, else the code itself."""
    if not code:
        return "not recorded"
    for name in (
        "nhsd-primary-care-domain-refsets-solid-cancer-diagnosis-codes",
        *(n for _, add, _ in REGISTERS for n in add),
        "opensafely-influenza-vaccination",
    ):
        term = codelist(name).terms.get(code)
        if term:
            return term
    return f"SNOMED CT {code}"


def _links_from_person_index(con: duckdb.DuckDBPyConnection, pid: int) -> list[tuple[str, str]] | None:
    """(feed, record_id) pairs linked to this GP patient, read from the identity layer's person_index table.

    Returns None when linkage has not run (no table), so the page can say so rather than show "none".
    Reads identity's shape (`identity.person_index`: person_id shared by the GP row, feed 'gp' and record_id =
    patient id, and the linked rows); a bare (feed, record_id, patient_id) table also works.
    """
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'person_index'"
        ).fetchall()
    }
    if not cols:
        return None
    if {"feed", "record_id", "person_id"} <= cols:
        # The identity layer's shape: every record of the person (several GP records of one person included).
        rows = con.execute(
            """
            SELECT DISTINCT o.feed, o.record_id FROM person_index g
            JOIN person_index o ON o.person_id = g.person_id AND o.feed <> 'gp'
            WHERE g.feed = 'gp' AND g.record_id = CAST($pid AS VARCHAR)
            """,
            {"pid": pid},
        ).fetchall()
    elif {"feed", "record_id", "patient_id"} <= cols:
        rows = con.execute(
            "SELECT DISTINCT feed, record_id FROM person_index WHERE patient_id = $pid AND feed <> 'gp'", {"pid": pid}
        ).fetchall()
    else:
        return None
    return [(str(f), str(r)) for f, r in rows]


def _hospital(con: duckdb.DuckDBPyConnection, record_ids: list[str]) -> list[HospitalStay]:
    if not record_ids:
        return []
    rows = con.execute(
        """
        SELECT record_id, trust_code, admission_date, discharge_date, diagnosis_code, discharge_destination
        FROM hospital_records WHERE list_contains($ids, record_id)
        ORDER BY admission_date DESC NULLS LAST, record_id
        """,
        {"ids": record_ids},
    ).fetchall()
    return [HospitalStay(r[0], r[1], r[2], r[3], r[4], _term(r[4]), r[5]) for r in rows]


def _social_care(con: duckdb.DuckDBPyConnection, record_ids: list[str]) -> list[SocialCareEpisode]:
    if not record_ids:
        return []
    rows = con.execute(
        """
        SELECT record_id, local_authority, service_type, start_date, end_date
        FROM social_care_records WHERE list_contains($ids, record_id)
        ORDER BY start_date DESC NULLS LAST, record_id
        """,
        {"ids": record_ids},
    ).fetchall()
    return [SocialCareEpisode(*r) for r in rows]


__all__ = [
    "Demographics",
    "HospitalStay",
    "Medication",
    "PatientRecord",
    "Reading",
    "RegisterEntry",
    "RiskScore",
    "SocialCareEpisode",
    "TimelineEntry",
    "patient_record",
]
