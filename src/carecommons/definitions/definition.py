"""Definitions (registers, indicators, variables), their parameters, and binding parameters into trees.

A definition carries everything a reviewer needs to trust a published figure: id, version, description,
the codelists it reads (derived from its trees, so they cannot drift from the logic), its parameters with
defaults, and numerator / denominator / exclusions. The engine stores per patient and index date:

* ``den``: in the denominator (the population, for a register; the eligible patients, for an indicator);
* ``num``: ``den`` and the numerator condition;
* ``exc``: ``den`` and not ``num`` and an exclusion applies (QOF personalised care adjustments only remove
  patients who did not already meet the target);
* ``value``: ``num`` as 0/1 for registers and indicators, or the value tree's result for variables.

Achievement is num / (den - exc).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from carecommons.core.errors import InvalidInput
from carecommons.definitions.model import (
    Agg,
    Expr,
    Frame,
    IndexDate,
    Lit,
    Param,
    T,
    Window,
    aggs,
    walk,
)


class Kind(StrEnum):
    REGISTER = "register"
    INDICATOR = "indicator"
    VARIABLE = "variable"


@dataclass(frozen=True)
class Parameter:
    """A named, documented knob with its London default (thresholds, windows, age limits)."""

    name: str
    default: int | float | str
    description: str = ""
    unit: str = ""

    @property
    def type(self) -> T:
        if isinstance(self.default, bool):
            return T.BOOL
        if isinstance(self.default, int):
            return T.INT
        if isinstance(self.default, float):
            return T.FLOAT
        return T.STR


TRUE = Lit(True)


@dataclass(frozen=True)
class Definition:
    id: str
    version: str
    title: str
    description: str
    kind: Kind
    numerator: Expr
    denominator: Expr = TRUE
    exclusions: Expr | None = None
    value: Expr | None = None
    parameters: tuple[Parameter, ...] = ()
    group: str = ""  # clinical area, e.g. "Hypertension"
    source: str = ""  # where the rule comes from (QOF business rules version, guideline)
    origin: str = "london"  # layer that defined it; local definitions name their org

    def __post_init__(self) -> None:
        for name, tree in (("numerator", self.numerator), ("denominator", self.denominator)):
            if tree.type != T.BOOL:
                raise InvalidInput(f"{self.id}.{name}", f"has type {tree.type}, not bool", "make it a condition")
        if self.exclusions is not None and self.exclusions.type != T.BOOL:
            raise InvalidInput(f"{self.id}.exclusions", "is not a condition", "make it a condition")
        declared = {p.name for p in self.parameters}
        for tree in self.trees():
            for node in _params_in(tree):
                if node.name not in declared:
                    raise InvalidInput(
                        f"{self.id}", f"uses parameter {node.name!r} it does not declare", "add it to parameters"
                    )

    def trees(self) -> list[Expr]:
        out = [self.denominator, self.numerator]
        if self.exclusions is not None:
            out.append(self.exclusions)
        if self.value is not None:
            out.append(self.value)
        return out

    @property
    def codelists(self) -> list[str]:
        seen: dict[str, None] = {}
        for tree in self.trees():
            for a in aggs(tree):
                seen.setdefault(a.frame.codelist, None)
        return list(seen)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def bound(self, params: dict[str, Any] | None = None) -> BoundDefinition:
        """Substitute parameters (defaults overlaid by `params`) so engines only ever see literal trees."""
        values = self.defaults | (params or {})
        unknown = set(values) - set(self.defaults)
        if unknown:
            raise InvalidInput(self.id, f"unknown parameter(s) {sorted(unknown)}", f"use {sorted(self.defaults)}")
        return BoundDefinition(
            definition=self,
            params=values,
            denominator=bind(self.denominator, values),
            numerator=bind(self.numerator, values),
            exclusions=bind(self.exclusions, values) if self.exclusions is not None else None,
            value=bind(self.value, values) if self.value is not None else None,
        )


@dataclass(frozen=True)
class BoundDefinition:
    """A definition with every parameter replaced by its effective value: what the engines evaluate."""

    definition: Definition
    params: dict[str, Any] = field(compare=False, hash=False)
    denominator: Expr
    numerator: Expr
    exclusions: Expr | None
    value: Expr | None

    def trees(self) -> list[Expr]:
        return [t for t in (self.denominator, self.numerator, self.exclusions, self.value) if t is not None]

    def aggs(self) -> list[Agg]:
        seen: dict[Agg, None] = {}
        for tree in self.trees():
            for a in aggs(tree):
                seen.setdefault(a, None)
        return list(seen)


def _params_in(tree: Expr) -> list[Param]:
    out: list[Param] = []
    for node in walk(tree):
        if isinstance(node, Param):
            out.append(node)
        if isinstance(node, Agg):
            w = node.frame.window
            for v in (getattr(w, f.name) for f in dataclasses.fields(w)):
                if isinstance(v, Param):
                    out.append(v)
        for f in dataclasses.fields(node) if dataclasses.is_dataclass(node) else ():
            v = getattr(node, f.name)
            if isinstance(v, Param) and not isinstance(node, Param):
                out.append(v)
    return out


def _raw(v: Any, params: dict[str, Any]) -> Any:
    """Offsets (months/days) take the plain integer, not a literal node."""
    if isinstance(v, Param):
        if params.get(v.name) is None:
            raise InvalidInput(v.name, "parameter has no value", "declare it with a default")
        return int(params[v.name])
    return v


def _bind_value(v: Any, params: dict[str, Any]) -> Any:
    if isinstance(v, (Expr, Frame, Window)):
        return bind(v, params)
    if isinstance(v, tuple):
        return tuple(_bind_value(x, params) for x in v)
    return v


def bind(node: Any, params: dict[str, Any]) -> Any:
    """Return `node` with every Param replaced (as a literal in expressions, as an int in windows/offsets)."""
    if isinstance(node, Param):
        value = params.get(node.name)
        if value is None:
            raise InvalidInput(node.name, "parameter has no value", "declare it with a default")
        if node.param_type == T.FLOAT and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        return Lit(value)
    if not dataclasses.is_dataclass(node):
        return node
    if isinstance(node, (IndexDate, Window)):
        return dataclasses.replace(
            node, **{f.name: _raw(getattr(node, f.name), params) for f in dataclasses.fields(node)}
        )
    changes = {f.name: _bind_value(getattr(node, f.name), params) for f in dataclasses.fields(node)}
    return dataclasses.replace(node, **changes)
