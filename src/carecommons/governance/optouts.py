"""Opt-outs: Type 1 (coded in the GP record), National Data Opt-out (NDOP list), and choices made here.

The codes are configuration because code sets change with SNOMED CT releases. The defaults have NOT been
verified against the UK SNOMED CT release used in production: check them before go-live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from carecommons.core.errors import InvalidInput
from carecommons.core.nhs_number import is_valid as nhs_number_is_valid
from carecommons.governance import audit
from carecommons.store.models.governance import NdopOptOut, PatientChoice


class ChoiceKind(StrEnum):
    TYPE1 = "type1"  # no GP data to leave the practice for purposes beyond direct care
    NDOP = "ndop"  # National Data Opt-out: no confidential data for research and planning


@dataclass(frozen=True)
class OptOutConfig:
    """Codes that record Type 1 dissent and its withdrawal. The latest of the two per patient wins."""

    type1_dissent_codes: frozenset[str]
    type1_withdrawal_codes: frozenset[str]
    #: Read v2 codes kept for legacy feeds; matched in events.code the same way.
    read_v2_dissent_codes: frozenset[str] = frozenset()

    @property
    def all_dissent_codes(self) -> frozenset[str]:
        return self.type1_dissent_codes | self.read_v2_dissent_codes


DEFAULT_OPT_OUT_CONFIG = OptOutConfig(
    # 827241000000103 "Dissent from secondary use of general practitioner patient identifiable data"
    # (UNVERIFIED against the UK SNOMED CT release - check before production).
    type1_dissent_codes=frozenset({"827241000000103"}),
    # 827261000000102 "Dissent withdrawn for secondary use of GP patient identifiable data" (UNVERIFIED likewise).
    type1_withdrawal_codes=frozenset({"827261000000102"}),
    # Read v2 9Nu0: Type 1 dissent in practices still coding in Read v2.
    read_v2_dissent_codes=frozenset({"9Nu0"}),
)


def record_ndop(
    session: Session,
    nhs_numbers: Iterable[str] = (),
    patient_ids: Iterable[int] = (),
    batch: str = "",
    actor: str = "ndop-import",
) -> int:
    """Store a batch from the NDOP service (NHS numbers) or already-resolved patient ids; returns rows added.

    Invalid NHS numbers are refused by row number, never echoed, so the list never reaches a log.
    """
    rows: list[NdopOptOut] = []
    for i, number in enumerate(nhs_numbers, start=1):
        cleaned = str(number).replace(" ", "")
        if not nhs_number_is_valid(cleaned):
            raise InvalidInput("nhs_numbers", f"entry {i} is not a valid NHS number", "correct the NDOP file")
        rows.append(NdopOptOut(nhs_number=cleaned, batch=batch))
    ids = [int(pid) for pid in patient_ids]
    rows.extend(NdopOptOut(patient_id=pid, batch=batch) for pid in ids)
    session.add_all(rows)
    audit.record_change(session, actor, "ndop_loaded", ids or None, f"{len(rows)} opt-outs, batch {batch!r}")
    return len(rows)


def set_patient_choice(
    session: Session, patient_id: int, kind: ChoiceKind | str, opted_out: bool, recorded_by: str
) -> None:
    """Record a patient's own choice (append-only history); it applies to the very next access check."""
    try:
        kind_ = ChoiceKind(kind)
    except ValueError as err:
        raise InvalidInput("kind", f"{kind!r} is not an opt-out kind", "use 'type1' or 'ndop'") from err
    session.add(
        PatientChoice(patient_id=int(patient_id), kind=kind_.value, opted_out=opted_out, recorded_by=recorded_by)
    )
    action = f"{kind_.value}_opt_out" if opted_out else f"{kind_.value}_opt_in"
    audit.record_change(session, recorded_by, action, [int(patient_id)])


def patient_choices(session: Session, patient_id: int) -> list[PatientChoice]:
    return list(
        session.scalars(select(PatientChoice).where(PatientChoice.patient_id == patient_id).order_by(PatientChoice.id))
    )


def platform_opted_out_ids(session: Session) -> set[int]:
    """Patients whose latest in-platform choice (of either kind) is to opt out."""
    latest: dict[tuple[int, str], bool] = {}
    for pid, kind, opted in session.execute(
        select(PatientChoice.patient_id, PatientChoice.kind, PatientChoice.opted_out).order_by(PatientChoice.id)
    ):
        latest[(pid, kind)] = opted
    return {pid for (pid, _kind), opted in latest.items() if opted}


def ndop_lists(session: Session) -> tuple[set[str], set[int]]:
    """NHS numbers and patient ids on the National Data Opt-out list."""
    numbers: set[str] = set()
    ids: set[int] = set()
    for number, pid in session.execute(select(NdopOptOut.nhs_number, NdopOptOut.patient_id)):
        if number:
            numbers.add(number)
        if pid is not None:
            ids.add(int(pid))
    return numbers, ids


def type1_sql(config: OptOutConfig, events_table: str = "events") -> tuple[str, list[str], list[str]]:
    """SQL selecting patient_id of patients whose latest Type 1 code is dissent, with its parameters.

    Same-day dissent and withdrawal count as dissent: when the order is unknown, refuse to share.
    """
    dissent = sorted(config.all_dissent_codes)
    withdraw = sorted(config.type1_withdrawal_codes)
    d_marks = ", ".join("?" for _ in dissent) or "NULL"
    w_marks = ", ".join("?" for _ in withdraw) or "NULL"
    sql = f"""
        SELECT d.patient_id FROM (
            SELECT patient_id, max(date) AS last_dissent FROM {events_table}
            WHERE code IN ({d_marks}) GROUP BY patient_id) d
        LEFT JOIN (
            SELECT patient_id, max(date) AS last_withdrawal FROM {events_table}
            WHERE code IN ({w_marks}) GROUP BY patient_id) w USING (patient_id)
        WHERE w.last_withdrawal IS NULL OR d.last_dissent >= w.last_withdrawal
    """
    return sql, dissent, withdraw
