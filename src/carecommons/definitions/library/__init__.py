"""The London library: registers and indicators, their codelists, and the local overrides that apply.

``load_library()`` is what every other layer calls. A Library turns into a run plan (definitions.plan) for a
set of practices: one default variant per definition with the London values, plus a variant for each group
of practices whose override layers change a parameter, plus local definitions for the organisations that
added them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carecommons.core.errors import NotFound
from carecommons.core.orgs import OrgLevel
from carecommons.definitions.codelists import check_table_system, library_codelists
from carecommons.definitions.definition import Definition
from carecommons.definitions.library.indicators import indicators
from carecommons.definitions.library.registers import registers
from carecommons.definitions.overrides import Effective, LocalDefinition, OrgChain, Overrides
from carecommons.definitions.plan import Planned, Variant, check_id
from carecommons.reference.codelists import Codelist


@dataclass(frozen=True)
class Explanation:
    """What `carecommons definitions explain ID --org ODS` prints: each effective value and its origin."""

    definition: Definition
    chain: OrgChain
    parameters: dict[str, Effective]
    applies: bool  # False for a local definition of another organisation


@dataclass
class Library:
    definitions: dict[str, Definition]
    codelists: dict[str, Codelist]
    overrides: Overrides = field(default_factory=lambda: Overrides([]))
    local: list[LocalDefinition] = field(default_factory=list)

    def __post_init__(self) -> None:
        for d in self.definitions.values():
            check_id(d.id)
            for tree in d.trees():
                for node in _frames(tree):
                    if node.codelist not in self.codelists:
                        raise NotFound(node.codelist, f"codelist used by {d.id} is not in the library", "register it")
                    check_table_system(node.table, self.codelists[node.codelist], d.id)
        self.overrides.check(set(self.definitions), self.definitions)
        self.local = self.overrides.local_definitions(self.definitions)
        for ld in self.local:
            check_id(ld.definition.id)

    # ---- lookup -----------------------------------------------------------------------------------
    def get(self, definition_id: str) -> Definition:
        if definition_id in self.definitions:
            return self.definitions[definition_id]
        for ld in self.local:
            if ld.definition.id == definition_id:
                return ld.definition
        raise NotFound(definition_id, "no such definition", "run `carecommons definitions list`")

    def all_definitions(self) -> list[Definition]:
        return list(self.definitions.values()) + [ld.definition for ld in self.local]

    def codes(self) -> dict[str, frozenset[str]]:
        return {k: v.codes for k, v in self.codelists.items()}

    def explain(self, definition_id: str, chain: OrgChain) -> Explanation:
        d = self.get(definition_id)
        local = next((ld for ld in self.local if ld.definition.id == definition_id), None)
        applies = local is None or chain.key(local.level) == local.org
        return Explanation(d, chain, self.overrides.effective(d, chain), applies)

    # ---- plan ------------------------------------------------------------------------------------
    def plan(self, chains: Iterable[OrgChain] = (), definition_ids: Iterable[str] | None = None) -> list[Planned]:
        """Variants per definition for the practices in `chains` (an empty list gives London values only)."""
        chains = list(chains)
        wanted = set(definition_ids) if definition_ids is not None else None
        out: list[Planned] = []
        for d in self.definitions.values():
            if wanted is None or d.id in wanted:
                out.append(self._planned(d, chains, scope=None))
        for ld in self.local:
            if wanted is None or ld.definition.id in wanted:
                out.append(self._planned(ld.definition, chains, scope=ld))
        return out

    def _planned(self, d: Definition, chains: list[OrgChain], scope: LocalDefinition | None) -> Planned:
        if scope is not None and scope.level == OrgLevel.LONDON:
            scope = None  # a London-wide local definition behaves like a library one
        london = {k: e.value for k, e in self.overrides.effective(d, OrgChain()).items()}
        in_scope = [c for c in chains if scope is None or c.key(scope.level) == scope.org]
        groups: dict[tuple[tuple[str, Any], ...], set[str]] = {}
        origins: dict[tuple[tuple[str, Any], ...], str] = {}
        for c in in_scope:
            eff = self.overrides.effective(d, c)
            values = {k: e.value for k, e in eff.items()}
            if scope is None and values == london:
                continue
            key = tuple(sorted(values.items()))
            groups.setdefault(key, set()).add(c.practice_id or "")
            origins[key] = "; ".join(sorted({e.origin for e in eff.values() if e.origin != "London library default"}))
        variants: list[Variant] = []
        if scope is None:
            variants.append(Variant(d.bound(london), None, "london"))
        for key, practices in sorted(groups.items(), key=lambda kv: sorted(kv[1])):
            variants.append(
                Variant(d.bound(dict(key)), frozenset(practices), origins[key] or (scope.origin if scope else ""))
            )
        return Planned(d.id, d.version, d.kind, tuple(variants))


def _frames(tree):
    from carecommons.definitions.model import Agg, walk

    for node in walk(tree):
        if isinstance(node, Agg):
            yield node.frame


def london_definitions() -> list[Definition]:
    return registers() + indicators()


def load_library(override_dirs: list[Path] | None = None) -> Library:
    """The London library with its shipped codelists and the override files found in `override_dirs`
    (default: the overrides shipped in the package, which hold only the London layer's examples)."""
    defs = london_definitions()
    return Library({d.id: d for d in defs}, library_codelists(), Overrides(override_dirs))
