"""Purposes and the requester: every patient-level read in the platform carries both.

The engine, the care layer and every API call take a Requester; governance turns it into a
data view that is already filtered (legitimate relationship, opt-outs) and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Purpose(StrEnum):
    DIRECT_CARE = "direct_care"  # identifiable; only patients with a legitimate relationship (or break-glass)
    PLANNING = "planning"  # pseudonymised; Type 1 and National Data Opt-outs excluded; aggregates suppressed
    RESEARCH = "research"  # as planning, plus an approved project


@dataclass(frozen=True)
class Requester:
    """Who is asking, in which role and organisation, and why."""

    user_id: str
    role: str
    org_id: str | None
    purpose: Purpose
    project_id: str | None = None  # required for research
    break_glass_reason: str | None = None  # direct care outside a legitimate relationship; raises an alert
