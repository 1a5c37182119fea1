"""Local variation without forking: layered overrides London -> ICS -> borough -> PCN -> practice.

Override files are TOML (stdlib tomllib, so no extra dependency) under an overrides directory:

    overrides/london/london.toml            overrides/icb/NCL.toml
    overrides/borough/Camden.toml           overrides/pcn/PCN-CAMDEN-01.toml
    overrides/practice/F83004.toml

Each file may set parameters of library definitions and add local definitions derived from a library one:

    [parameters.HYP008]
    systolic_max = 135.0
    reason = "Camden hypertension pathway 2025"   # optional, shown by `definitions explain`

    [[local]]
    id = "HYP008_U60"
    based_on = "HYP008"
    title = "Hypertension under 60: BP at or below 135/85"
    parameters = { age_split = 60, systolic_max = 135.0, diastolic_max = 85.0 }

The finer layer wins. Every effective value records the file it came from, so a figure published for a
practice can always be traced to the decision that shaped it.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.core.orgs import OrgLevel
from carecommons.definitions.definition import Definition

DEFAULT_OVERRIDES_DIR = Path(__file__).resolve().parent / "overrides"

#: Coarse to fine: later layers override earlier ones.
LAYERS: tuple[tuple[OrgLevel, str], ...] = (
    (OrgLevel.LONDON, "london"),
    (OrgLevel.ICB, "icb"),
    (OrgLevel.BOROUGH, "borough"),
    (OrgLevel.PCN, "pcn"),
    (OrgLevel.PRACTICE, "practice"),
)


@dataclass(frozen=True)
class OrgChain:
    """Where a practice sits: the keys used to find its override files at each level."""

    practice_id: str | None = None
    pcn_id: str | None = None
    borough: str | None = None
    icb: str | None = None

    def key(self, level: OrgLevel) -> str | None:
        if level == OrgLevel.LONDON:
            return "london"
        return getattr(self, level.value)


@dataclass(frozen=True)
class Effective:
    """One parameter's effective value and where it came from ("london default" or an override file)."""

    name: str
    value: Any
    origin: str
    reason: str = ""
    history: tuple[tuple[str, Any], ...] = ()  # (origin, value) from coarse to fine


@dataclass(frozen=True)
class LocalDefinition:
    definition: Definition
    level: OrgLevel
    org: str
    origin: str


@dataclass
class OverrideLayer:
    level: OrgLevel
    org: str
    path: Path
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    local: list[dict[str, Any]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"{self.level.label} {self.org} ({self.path.name})"


def _read_layer(level: OrgLevel, folder: str, path: Path) -> OverrideLayer:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(
            str(path), f"not valid TOML ({err})", "fix the syntax; see definitions/overrides.py"
        ) from err
    unknown = set(data) - {"parameters", "local"}
    if unknown:
        raise InvalidInput(str(path), f"unknown section(s) {sorted(unknown)}", "use [parameters.ID] and [[local]]")
    layer = OverrideLayer(level=level, org=path.stem, path=path)
    for def_id, values in (data.get("parameters") or {}).items():
        if not isinstance(values, dict):
            raise InvalidInput(
                str(path), f"parameters.{def_id} is not a table", "write [parameters.ID] then name = value"
            )
        values = dict(values)
        reason = values.pop("reason", "")
        layer.parameters[def_id] = values
        layer.reasons[def_id] = str(reason)
    for entry in data.get("local") or []:
        for key in ("id", "based_on"):
            if key not in entry:
                raise InvalidInput(str(path), f"a [[local]] entry has no {key!r}", f"add {key} = ...")
        layer.local.append(dict(entry))
    return layer


class Overrides:
    """All override layers found under one or more directories (later directories win on the same file)."""

    def __init__(self, dirs: list[Path] | None = None) -> None:
        self.layers: dict[tuple[OrgLevel, str], OverrideLayer] = {}
        for d in dirs if dirs is not None else [DEFAULT_OVERRIDES_DIR]:
            for level, folder in LAYERS:
                sub = d / folder
                if not sub.is_dir():
                    continue
                for path in sorted(sub.glob("*.toml")):
                    self.layers[(level, path.stem)] = _read_layer(level, folder, path)

    def chain_layers(self, chain: OrgChain) -> list[OverrideLayer]:
        """The layers that apply to `chain`, coarse to fine."""
        out = []
        for level, _ in LAYERS:
            key = chain.key(level)
            if key is not None and (level, key) in self.layers:
                out.append(self.layers[(level, key)])
        return out

    def effective(self, definition: Definition, chain: OrgChain) -> dict[str, Effective]:
        """Every parameter of `definition` as it applies to `chain`, with its origin."""
        out: dict[str, Effective] = {}
        for p in definition.parameters:
            history: list[tuple[str, Any]] = [("London library default", p.default)]
            reason = ""
            for layer in self.chain_layers(chain):
                values = layer.parameters.get(definition.id, {})
                if p.name in values:
                    history.append((layer.origin, values[p.name]))
                    reason = layer.reasons.get(definition.id, "")
            origin, value = history[-1]
            out[p.name] = Effective(
                p.name, _coerce(p.default, value, definition.id, p.name), origin, reason, tuple(history)
            )
        return out

    def check(self, library_ids: set[str], definitions: dict[str, Definition]) -> None:
        """Fail early on an override naming a definition or parameter that does not exist (a typo would
        otherwise silently leave the London value in force)."""
        known_defs = dict(definitions)
        for layer in self.layers.values():
            for entry in layer.local:
                if entry.get("based_on") in definitions:
                    known_defs[entry["id"]] = definitions[entry["based_on"]]
        for layer in self.layers.values():
            for def_id, values in layer.parameters.items():
                if def_id not in known_defs:
                    raise NotFound(str(layer.path), f"overrides unknown definition {def_id!r}", "check the id")
                known = {p.name for p in known_defs[def_id].parameters}
                bad = set(values) - known
                if bad:
                    raise InvalidInput(
                        str(layer.path), f"{def_id} has no parameter(s) {sorted(bad)}", f"use {sorted(known)}"
                    )
                for p in known_defs[def_id].parameters:
                    if p.name in values:
                        _coerce(p.default, values[p.name], f"{layer.path.name}: {def_id}", p.name)
            for entry in layer.local:
                if entry["based_on"] not in definitions:
                    raise NotFound(
                        str(layer.path),
                        f"local {entry['id']} is based on unknown {entry['based_on']!r}",
                        "check the id",
                    )
                if entry["id"] in library_ids:
                    raise InvalidInput(
                        str(layer.path), f"local id {entry['id']!r} clashes with the library", "rename it"
                    )

    def local_definitions(self, definitions: dict[str, Definition]) -> list[LocalDefinition]:
        """Local definitions built from [[local]] entries: a copy of the base with new id, title and defaults."""
        out = []
        for layer in self.layers.values():
            for entry in layer.local:
                base = definitions[entry["based_on"]]
                params = entry.get("parameters") or {}
                unknown = set(params) - {p.name for p in base.parameters}
                if unknown:
                    raise InvalidInput(
                        str(layer.path), f"{entry['id']}: unknown parameter(s) {sorted(unknown)}", "fix them"
                    )
                new_params = tuple(
                    dataclasses.replace(p, default=_coerce(p.default, params[p.name], entry["id"], p.name))
                    if p.name in params
                    else p
                    for p in base.parameters
                )
                d = dataclasses.replace(
                    base,
                    id=entry["id"],
                    version=str(entry.get("version", base.version)),
                    title=str(entry.get("title", base.title)),
                    description=str(entry.get("description", f"Local variant of {base.id}: {base.description}")),
                    parameters=new_params,
                    origin=layer.origin,
                )
                out.append(LocalDefinition(d, layer.level, layer.org, layer.origin))
        return out


def _coerce(default: Any, value: Any, def_id: str, name: str) -> Any:
    """Keep a parameter's type: an int default stays int (it may be a window length), a float accepts ints."""
    if isinstance(default, bool) or isinstance(value, bool):
        raise InvalidInput(f"{def_id}.{name}", "booleans are not parameters", "use a number")
    if isinstance(default, int):
        if isinstance(value, float) and not value.is_integer():
            raise InvalidInput(f"{def_id}.{name}", f"{value} is not a whole number", "give an integer")
        if not isinstance(value, (int, float)):
            raise InvalidInput(f"{def_id}.{name}", f"{value!r} is not a number", "give an integer")
        return int(value)
    if isinstance(default, float):
        if not isinstance(value, (int, float)):
            raise InvalidInput(f"{def_id}.{name}", f"{value!r} is not a number", "give a number")
        return float(value)
    return str(value)
