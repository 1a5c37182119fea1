"""What one run evaluates: each definition with its local variants, and the date arithmetic engines share.

Local variation (definitions.overrides) can give a borough or a practice its own parameter values or its own
definitions. Rather than running the library once per organisation, a run carries, per definition, a list of
variants keyed by the practices they apply to; every engine evaluates all variants in the same pass and picks
per patient by the practice they are registered with at the index date. Both the SQL compiler and the
reference evaluator read this one structure, so local variation is checked like everything else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from carecommons.core.dates import months_back
from carecommons.core.errors import InvalidInput
from carecommons.definitions.definition import BoundDefinition, Kind

_ID = re.compile(r"^[A-Z][A-Z0-9_]{0,40}$")


def check_id(definition_id: str) -> str:
    """Definition ids become column names on three SQL engines, so they are restricted to A-Z, 0-9 and _."""
    if not _ID.match(definition_id):
        raise InvalidInput(
            "definition id", f"{definition_id!r} is not an upper-case identifier", "use A-Z, 0-9 and _, e.g. BP002"
        )
    return definition_id


@dataclass(frozen=True)
class Variant:
    """One bound version of a definition; ``practices=None`` is the default for everyone else."""

    bound: BoundDefinition
    practices: frozenset[str] | None = None
    origin: str = "london"


@dataclass(frozen=True)
class Planned:
    definition_id: str
    version: str
    kind: Kind
    variants: tuple[Variant, ...]

    def __post_init__(self) -> None:
        check_id(self.definition_id)
        if sum(v.practices is None for v in self.variants) > 1:
            raise InvalidInput(self.definition_id, "more than one default variant", "give one variant practices=None")

    @property
    def column(self) -> str:
        return self.definition_id.lower()

    @property
    def default(self) -> Variant | None:
        return next((v for v in self.variants if v.practices is None), None)

    @property
    def local(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.practices is not None)

    def variant_for(self, practice_id: str) -> Variant | None:
        """The variant a patient of `practice_id` gets: a local one naming the practice, else the default."""
        for v in self.local:
            assert v.practices is not None
            if practice_id in v.practices:
                return v
        return self.default


def shift(index: dt.date, months: int = 0, days: int = 0) -> dt.date:
    """`index` moved back by whole months (clamped to month end) and then by days."""
    return months_back(index, months) - dt.timedelta(days=days)


#: Output columns every engine returns per (patient, index date), before the per-definition columns.
BASE_COLUMNS = ("patient_id", "index_date", "practice_id", "age", "sex", "ethnicity_6", "imd_decile")
#: Per-definition suffixes: den/num/exc are 0/1, value is a number (NULL allowed).
FLAG_SUFFIXES = ("den", "num", "exc", "value")


def output_columns(plan: list[Planned]) -> list[str]:
    cols = list(BASE_COLUMNS)
    for p in plan:
        cols += [f"{p.column}_{s}" for s in FLAG_SUFFIXES]
    return cols
