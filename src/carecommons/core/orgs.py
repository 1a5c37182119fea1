"""The London organisation hierarchy, used to aggregate one definition at every level."""

from __future__ import annotations

from enum import StrEnum


class OrgLevel(StrEnum):
    """Levels from the finest to the whole city; the value is the practices-table column that keys it."""

    PRACTICE = "practice_id"
    PCN = "pcn_id"
    BOROUGH = "borough"
    ICB = "icb"
    LONDON = "london"

    @property
    def label(self) -> str:
        return {
            "practice_id": "Practice",
            "pcn_id": "PCN",
            "borough": "Borough",
            "icb": "ICS",
            "london": "London",
        }[self.value]


ICBS: dict[str, str] = {
    "NCL": "North Central London",
    "NEL": "North East London",
    "NWL": "North West London",
    "SEL": "South East London",
    "SWL": "South West London",
}

LEVELS_FINE_TO_COARSE: tuple[OrgLevel, ...] = (
    OrgLevel.PRACTICE,
    OrgLevel.PCN,
    OrgLevel.BOROUGH,
    OrgLevel.ICB,
    OrgLevel.LONDON,
)
