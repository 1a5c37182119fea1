"""Statistical disclosure control: the only way an aggregate leaves the platform.

NHS England's rule for published counts (configurable here): counts of 1-7 are suppressed and every other
count is rounded to the nearest 5. Suppressing small cells is not enough on its own when totals are published
too: a suppressed practice can be recovered as PCN total minus its sibling practices, or a suppressed
"female" cell as all-sexes minus "male". Secondary suppression hides further cells until no additive relation
in the table gives a suppressed cell (or a small sum of suppressed cells) away, and no suppressed cell can be
derived exactly from any combination of the published figures.

Input is a roll-up frame, as SQL GROUP BY GROUPING SETS / ROLLUP makes: `Hierarchy.levels` are organisation
columns fine to coarse; a row's level is its finest non-null level column (all NULL = the whole area).
`Hierarchy.breakdowns` are demographic columns where NULL means "all values".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from carecommons.core.errors import InvalidInput


@dataclass(frozen=True)
class DisclosureConfig:
    #: counts 1..threshold are suppressed (NHS England: 7)
    threshold: int = 7
    #: published counts are rounded to the nearest multiple (NHS England: 5); 1 disables rounding
    rounding: int = 5
    #: suppress zeros too (some publications do; NHS England's rule leaves 0 visible)
    suppress_zero: bool = False
    #: largest group of linked suppressed cells checked exactly for linear derivability (dense SVD)
    max_exact_component: int = 1500


@dataclass(frozen=True)
class Hierarchy:
    levels: Sequence[str] = ()
    breakdowns: Sequence[str] = field(default_factory=tuple)


NHS_ENGLAND = DisclosureConfig()


@dataclass(frozen=True)
class Relation:
    """total = sum(parts): one additive relation between rows of the frame (row positions)."""

    total: int
    parts: tuple[int, ...]


def _key(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else value


def relations(df: pd.DataFrame, hierarchy: Hierarchy | None) -> list[Relation]:
    """The additive relations a reader could use: each present organisation total is the sum of the rows whose
    nearest present ancestor it is (per breakdown cell), and each breakdown total is the sum of its values."""
    if hierarchy is None or (not hierarchy.levels and not hierarchy.breakdowns):
        return []
    levels, breakdowns = list(hierarchy.levels), list(hierarchy.breakdowns)
    missing = [c for c in levels + breakdowns if c not in df.columns]
    if missing:
        raise InvalidInput("hierarchy", f"columns {missing} are not in the frame", "name columns of the frame")
    org_keys = [tuple(_key(v) for v in row) for row in df[levels].itertuples(index=False, name=None)]
    bd_keys = [tuple(_key(v) for v in row) for row in df[breakdowns].itertuples(index=False, name=None)]
    position: dict[tuple[tuple, tuple], int] = {}
    for i, k in enumerate(zip(org_keys, bd_keys, strict=True)):
        if k in position:
            raise InvalidInput("frame", f"rows {position[k] + 1} and {i + 1} have the same keys", "aggregate first")
        position[k] = i
    groups: dict[int, list[int]] = {}
    for i, (org, bd) in enumerate(zip(org_keys, bd_keys, strict=True)):
        # Organisation relation: walk up to the nearest ancestor present with the same breakdown.
        depth = next((d for d, v in enumerate(org) if v is not None), len(org))
        for up in range(depth, len(org)):
            parent = tuple(None if d <= up else v for d, v in enumerate(org))
            if (parent, bd) in position:
                groups.setdefault(position[(parent, bd)], []).append(i)
                break
    out = [Relation(t, tuple(parts)) for t, parts in groups.items()]
    for d in range(len(breakdowns)):
        bgroups: dict[int, list[int]] = {}
        for i, (org, bd) in enumerate(zip(org_keys, bd_keys, strict=True)):
            if bd[d] is None:
                continue
            total = (org, bd[:d] + (None,) + bd[d + 1 :])
            if total in position:
                bgroups.setdefault(position[total], []).append(i)
        out.extend(Relation(t, tuple(parts)) for t, parts in bgroups.items())
    return out


def _primary(values: np.ndarray, cfg: DisclosureConfig) -> set[int]:
    low = 0 if cfg.suppress_zero else 1
    return {i for i, v in enumerate(values) if low <= v <= cfg.threshold}


def _pick(candidates: list[int], values: np.ndarray, suppressed: set[int]) -> int | None:
    """The cheapest cell to hide next: the smallest non-zero unsuppressed one (zeros protect nothing)."""
    free = [c for c in candidates if c not in suppressed]
    if not free:
        return None
    nonzero = [c for c in free if values[c] > 0]
    return min(nonzero or free, key=lambda c: (values[c], c))


def _relation_safe(rel: Relation, values: np.ndarray, suppressed: set[int], cfg: DisclosureConfig) -> bool:
    hidden_parts = [p for p in rel.parts if p in suppressed]
    if rel.total in suppressed:
        return bool(hidden_parts)  # total and at least one part hidden: only a difference is known
    if not hidden_parts:
        return True
    # Total published: the sum of the hidden parts is derivable, so it must be two or more cells and not small.
    return len(hidden_parts) >= 2 and int(values[hidden_parts].sum()) > cfg.threshold


def _fix_relations(rels: list[Relation], values: np.ndarray, suppressed: set[int], cfg: DisclosureConfig) -> None:
    changed = True
    while changed:
        changed = False
        for rel in rels:
            if not any(c in suppressed for c in (rel.total, *rel.parts)):
                continue
            while not _relation_safe(rel, values, suppressed, cfg):
                nxt = _pick(list(rel.parts), values, suppressed)
                if nxt is None:
                    nxt = rel.total if rel.total not in suppressed else None
                if nxt is None:
                    break  # every cell of the relation is hidden already
                suppressed.add(nxt)
                changed = True


def _components(rels: list[Relation], suppressed: set[int]) -> list[tuple[list[int], list[Relation]]]:
    parent = {c: c for c in suppressed}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    touching = []
    for rel in rels:
        hidden = [c for c in (rel.total, *rel.parts) if c in suppressed]
        if hidden:
            touching.append(rel)
            for c in hidden[1:]:
                parent[find(c)] = find(hidden[0])
    cells: dict[int, list[int]] = {}
    for c in suppressed:
        cells.setdefault(find(c), []).append(c)
    rels_by: dict[int, list[Relation]] = {}
    for rel in touching:
        first = next(c for c in (rel.total, *rel.parts) if c in suppressed)
        rels_by.setdefault(find(first), []).append(rel)
    return [(sorted(cs), rels_by.get(root, [])) for root, cs in cells.items()]


def derivable_cells(rels: list[Relation], suppressed: set[int], max_component: int = 1500) -> set[int]:
    """Suppressed cells whose exact value follows from a linear combination of the relations and the published
    cells: those with a zero component in every null-space vector of the relations restricted to hidden cells.
    Components larger than max_component are checked by repeated single-relation solving only."""
    out: set[int] = set()
    components = _components(rels, suppressed)
    if not components:
        return out
    # Many small SVDs: one BLAS thread each is far faster than letting every call spin up a pool.
    with _blas_controller().limit(limits=1, user_api="blas"):
        for cells, crels in components:
            out |= _component_pinned(cells, crels, max_component)
    return out


@cache
def _blas_controller() -> ThreadpoolController:
    """One scan of the loaded native libraries per process: `threadpool_limits()` rescans them on every call
    (~0.8 ms in the web app, some 30 calls per dashboard build)."""
    return ThreadpoolController()


def _component_pinned(cells: list[int], crels: list[Relation], max_component: int) -> set[int]:
    """Pinned cells of one group of linked hidden cells (exactly by SVD, or by peeling when very large)."""
    if len(cells) > max_component:
        return _peel(crels, set(cells))
    col = {c: j for j, c in enumerate(cells)}
    m = np.zeros((len(crels), len(cells)))
    for r, rel in enumerate(crels):
        if rel.total in col:
            m[r, col[rel.total]] += 1.0
        for p in rel.parts:
            if p in col:
                m[r, col[p]] -= 1.0
    return {cells[j] for j in _pinned_columns(m)}


def _pinned_columns(m: np.ndarray) -> list[int]:
    """Columns j with e_j in the row space of m: the cells a linear combination of relations isolates.

    Economy SVD: the right singular vectors with non-zero singular values span the row space; e_j lies in it
    exactly when its projection keeps unit length.
    """
    if m.shape[0] == 0:
        return []  # no published relation mentions these cells: nothing to derive them from
    _u, sv, vh = np.linalg.svd(m, full_matrices=False)
    tol = max(m.shape) * np.finfo(float).eps * (sv[0] if sv.size else 0.0)
    basis = vh[sv > tol]
    projected = (basis**2).sum(axis=0) if basis.size else np.zeros(m.shape[1])
    return [j for j, p in enumerate(projected) if p > 1 - 1e-8]


def _peel(rels: list[Relation], hidden: set[int]) -> set[int]:
    """What an attacker gets by solving relations with one unknown left, again and again."""
    unknown, derived = set(hidden), set()
    progress = True
    while progress:
        progress = False
        for rel in rels:
            left = [c for c in (rel.total, *rel.parts) if c in unknown]
            if len(left) == 1:
                unknown.discard(left[0])
                derived.add(left[0])
                progress = True
    return derived


def suppression_mask(values: Sequence[int], rels: list[Relation], config: DisclosureConfig = NHS_ENGLAND) -> set[int]:
    """Row positions to suppress for one count column: primary, then secondary until safe."""
    vals = np.asarray(values, dtype=np.int64)
    suppressed = _primary(vals, config)
    while True:
        _fix_relations(rels, vals, suppressed, config)
        exposed = derivable_cells(rels, suppressed, config.max_exact_component)
        if not exposed:
            return suppressed
        added = False
        for cell in sorted(exposed):
            for rel in rels:
                members = (rel.total, *rel.parts)
                if cell in members:
                    nxt = _pick(list(members), vals, suppressed)
                    if nxt is not None:
                        suppressed.add(nxt)
                        added = True
                        break
        if not added:
            return suppressed  # every linked cell is hidden: nothing is published to derive from


def round_to(value: int, base: int) -> int:
    """Nearest multiple of base, halves up (NHS England rounds 2.5 -> 5 when base 5 meets a half)."""
    if base <= 1:
        return int(value)
    return int(math.floor(value / base + 0.5) * base)


def publish(
    df: pd.DataFrame,
    count_columns: list[str],
    hierarchy: Hierarchy | None = None,
    config: DisclosureConfig | None = None,
) -> pd.DataFrame:
    """Return a copy of `df` safe to publish: each count column suppressed (<NA>) and rounded as configured.

    Every count column is protected on its own; columns other than counts pass through unchanged, so derive
    rates from the published counts afterwards, never before.
    """
    cfg = config or NHS_ENGLAND
    if cfg.threshold < 0 or cfg.rounding < 1:
        raise InvalidInput("config", "threshold must be >= 0 and rounding >= 1", "use e.g. threshold=7, rounding=5")
    out = df.copy().reset_index(drop=True)
    rels = relations(out, hierarchy)
    for col in count_columns:
        if col not in out.columns:
            raise InvalidInput("count_columns", f"{col!r} is not a column of the frame", "name a count column")
        series = out[col]
        if series.isna().any():
            raise InvalidInput(col, "has missing counts", "fill missing counts with 0 before publishing")
        raw = series.to_numpy()
        if (raw < 0).any() or not np.all(np.equal(np.mod(raw, 1), 0)):
            raise InvalidInput(col, "holds negative or fractional values", "publish counts, not rates")
        values = raw.astype(np.int64)
        hidden = suppression_mask(values, rels, cfg)
        published = [pd.NA if i in hidden else round_to(int(v), cfg.rounding) for i, v in enumerate(values)]
        out[col] = pd.array(published, dtype="Int64")
    return out
