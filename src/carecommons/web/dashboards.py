"""Planning dashboards: the view model of one organisation's page, built only from published counts.

Every figure is a definition of the shared London library (carecommons.definitions) as the engine evaluated
it: a register's prevalence (on register / registered) or an indicator's achievement (numerator /
(denominator - exclusions)). The dashboards hold no definitions of their own ("one definition, every level").

Order of work matters for disclosure control: roll practice counts up to the cells shown, publish those
cells (suppress 1-7, round to 5, secondary suppression), and only then compute rates, intervals, funnel
limits and SPC lines from the published numbers. No figure on the page comes from an unpublished count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from markupsafe import Markup

from carecommons.core.errors import NotFound
from carecommons.core.orgs import ICBS, LEVELS_FINE_TO_COARSE, OrgLevel
from carecommons.stats import funnel as st_funnel
from carecommons.stats import inequality, spc
from carecommons.stats.proportions import wilson
from carecommons.stats.standardise import DsrResult, dsr
from carecommons.web import charts
from carecommons.web.aggregates import DefinitionInfo, PracticeAggregates, child_level, practice_ids
from carecommons.web.disclosure import publish, publish_parts

LEVEL_SLUGS: dict[str, OrgLevel] = {
    "london": OrgLevel.LONDON,
    "ics": OrgLevel.ICB,
    "borough": OrgLevel.BOROUGH,
    "pcn": OrgLevel.PCN,
    "practice": OrgLevel.PRACTICE,
}
SLUG_OF = {v: k for k, v in LEVEL_SLUGS.items()}
IMD_LABELS = {1: "1 (most deprived)", 2: "2", 3: "3", 4: "4", 5: "5 (least deprived)"}
DEFAULT_DEFINITION = "HYP_REG"
COUNTS = ["numerator", "denominator", "exclusions"]
NOT_RECORDED = "Not recorded"
AGE_SEX = "age_band\x1fsex"  # the age band x sex cells of the age_sex grouping, as one strata grid column


def level_from_slug(slug: str) -> OrgLevel:
    try:
        return LEVEL_SLUGS[slug]
    except KeyError:
        raise NotFound(
            "level", f"'{slug}' is not an organisation level", f"use one of {', '.join(LEVEL_SLUGS)}"
        ) from None


@dataclass(frozen=True)
class OrgRef:
    level: OrgLevel
    id: str
    name: str

    @property
    def href(self) -> str:
        if self.level is OrgLevel.LONDON:
            return "/dashboards/london"
        return f"/dashboards/{SLUG_OF[self.level]}/{quote(self.id, safe='')}"


@dataclass
class Figure:
    """A chart and its text alternative (the table rows it was drawn from).

    `chart` is what to draw (None when there is too little to plot: `note` says why); `svg` is the drawing,
    made by `draw` (the background warm-up does, so warmed pages carry their charts inline) or left None so
    the page asks for the chart as its own SVG resource and renders without waiting for it.
    """

    id: str
    title: str
    chart: charts.Chart | None
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    svg: Markup | None = None


@dataclass
class Dashboard:
    org: OrgRef
    breadcrumbs: list[OrgRef]
    definition: DefinitionInfo
    run_id: str
    snapshot_id: str
    index_date: str
    index_dates: list[str]
    summary: list[dict]  # registers: prevalence
    indicators: list[dict]  # indicators: achievement
    child_level: OrgLevel | None
    children: list[dict]
    figures: list[Figure] = field(default_factory=list)
    breakdowns: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def measure(self) -> str:
        """What the rate of the chosen definition is called on the page."""
        return "prevalence" if self.definition.kind == "register" else "achievement"


def definition(aggs: PracticeAggregates, definition_id: str) -> DefinitionInfo:
    try:
        return aggs.definitions[definition_id]
    except KeyError:
        raise NotFound(
            "definition",
            f"no results for a definition called '{definition_id}' in the latest run",
            f"use one of {', '.join(aggs.definitions)}",
        ) from None


def org_name(aggs: PracticeAggregates, level: OrgLevel, org_id: str) -> str:
    if level is OrgLevel.LONDON:
        return "London"
    if level is OrgLevel.ICB:
        return f"{ICBS.get(org_id, org_id)} ICS"
    p = aggs.practices
    row = p[p[level.value] == org_id]
    if row.empty:
        raise NotFound(level.label, f"no {level.label} with code '{org_id}' in the store", "pick one from the list")
    if level is OrgLevel.PRACTICE:
        return str(row["name"].iloc[0])
    if level is OrgLevel.PCN:
        return str(row["pcn_name"].iloc[0])
    return str(org_id)


def breadcrumbs(aggs: PracticeAggregates, level: OrgLevel, org_id: str) -> list[OrgRef]:
    """London down to (not including) this organisation."""
    crumbs = [OrgRef(OrgLevel.LONDON, "LONDON", "London")]
    if level is OrgLevel.LONDON:
        return []
    p = aggs.practices
    row = p[p[level.value] == org_id].iloc[0]
    for lvl in reversed(LEVELS_FINE_TO_COARSE[LEVELS_FINE_TO_COARSE.index(level) + 1 : -1]):
        crumbs.append(OrgRef(lvl, str(row[lvl.value]), org_name(aggs, lvl, str(row[lvl.value]))))
    return crumbs


def _rates(df: pd.DataFrame) -> list[tuple[float | None, float | None, float | None]]:
    """(rate %, lower, upper) per row from published numerator/denominator; None where either is suppressed."""
    num = df["numerator"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    den = df["denominator"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(num) & ~np.isnan(den) & (den > 0) & (num <= den)
    out: list[tuple[float | None, float | None, float | None]] = [(None, None, None)] * len(df)
    if ok.any():
        ci = wilson(num[ok], den[ok])
        for i, lo, hi in zip(np.flatnonzero(ok), ci.lower, ci.upper, strict=True):
            out[i] = (100 * num[i] / den[i], 100 * float(lo), 100 * float(hi))
    return out


def fmt_count(v) -> str:
    return "suppressed" if pd.isna(v) else f"{int(v):,}"


def fmt_pct(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{v:.1f}%"


def _among(column: pd.Series, ids: pd.Index) -> np.ndarray:
    """`column.isin(ids)` for a column of practice ids, done by Arrow in one call: pandas 3's isin on Arrow
    strings makes one Arrow scalar per id first (5 ms per call for London's ~1,200 practices, sixteen calls
    a page)."""
    values = pa.array(column)
    wanted = pa.array(pd.Index(ids).astype("string[pyarrow]")).cast(values.type)
    return pc.is_in(values, value_set=wanted).to_numpy(zero_copy_only=False)


def _with(aggs: PracticeAggregates, df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Add the organisation column(s) in `by` that a practice-level frame lacks."""
    missing = [c for c in by if c not in df.columns]
    if not missing:
        return df
    return df.merge(aggs.practices[["practice_id", *missing]], on="practice_id")


def _memo(aggs: PracticeAggregates, name: str, make):
    """A frame derived from `aggs` once and kept on it (the aggregates never change after they are made)."""
    value = aggs.memo.get(name)
    if value is None:
        value = aggs.memo[name] = make()
    return value


#: (grouping, column) of the strata grids a page reads: the four breakdowns and the age-sex standardisation.
STRATA_GRIDS = (
    ("imd_quintile", "imd_quintile"),
    ("ethnicity_6", "ethnicity_6"),
    ("age_sex", "age_band"),
    ("age_sex", "sex"),
    ("age_sex", AGE_SEX),
)


def prime(aggs: PracticeAggregates) -> None:
    """Derive now the cohort's frames and grids that every page's build reads (counts split by definition, the
    latest index date's rows, the strata of each breakdown, the count and strata grids): about a second of CPU
    at a million patients that the first page of a definition nobody has viewed would otherwise pay in a
    worker that has only read warmed pages (what is left per definition, its rows summed into the grids, is
    milliseconds). The warm-up calls it after counting a cohort."""
    _counts_of(aggs, DEFAULT_DEFINITION)
    _latest(aggs, "population")
    _latest(aggs, "counts")
    for grouping in ("imd_quintile", "ethnicity_6", "age_sex"):
        _strata_split(aggs, grouping)
    _count_grid(aggs)
    for grouping, column in STRATA_GRIDS:
        _strata_grid(aggs, grouping, column)


def _counts_of(aggs: PracticeAggregates, definition_id: str) -> pd.DataFrame:
    """One definition's practice counts at every index date (split once per aggregates object)."""
    split = _memo(aggs, "counts_by_definition", lambda: dict(tuple(aggs.counts.groupby("definition_id", sort=False))))
    got = split.get(definition_id)
    return got if got is not None else aggs.counts.iloc[0:0]


def _latest(aggs: PracticeAggregates, name: str) -> pd.DataFrame:
    """Population or counts at the latest index date only (what every non-series figure uses)."""
    df = aggs.population if name == "population" else aggs.counts
    return _memo(aggs, f"latest_{name}", lambda: df[df["index_date"] == aggs.index_date])


def _strata_filled(aggs: PracticeAggregates, grouping: str) -> pd.DataFrame:
    """Strata rows of one grouping with missing labels shown as 'Not recorded' (IMD quintiles as integers)."""

    def make() -> pd.DataFrame:
        s = aggs.strata[aggs.strata["grouping"] == grouping].copy()
        for c in ("age_band", "sex", "ethnicity_6", "imd_quintile"):
            s[c] = s[c].astype(object).where(s[c].notna(), NOT_RECORDED)
            if c == "imd_quintile":
                s[c] = s[c].map(lambda v: v if v == NOT_RECORDED else int(v))
        return s

    return _memo(aggs, f"strata_{grouping}", make)


def counts(
    aggs: PracticeAggregates, d: DefinitionInfo, ids: pd.Index, by: list[str], all_dates: bool = False
) -> pd.DataFrame:
    """Unpublished counts of one definition over practices `ids`, grouped by `by` (org columns, index_date).

    A register's denominator is the registered population; an indicator's is its denominator less exclusions
    (QOF personalised care adjustments), so numerator / denominator is always the rate shown.
    """
    fast = _grid_counts_by(aggs, d, ids, by, all_dates)
    if fast is not None:
        return fast
    key = [*by, "_all"]
    if all_dates:
        pop, res = aggs.population, _counts_of(aggs, d.id)
    else:
        pop, res = _latest(aggs, "population"), _latest(aggs, "counts")
        res = res[res["definition_id"] == d.id]
    pop = pop[_among(pop["practice_id"], ids)]
    res = res[_among(res["practice_id"], ids)]
    pop = _with(aggs, pop, by).assign(_all=0)
    res = _with(aggs, res, by).assign(_all=0)
    base = pop.groupby(key)["denominator"].sum()
    got = res.groupby(key)[COUNTS].sum().reindex(base.index, fill_value=0)
    return _counted(d, base, got).reset_index().drop(columns="_all")


@dataclass
class _CountGrid:
    """The cohort's population and each definition's counts per practice (rows, `aggs.practices` order) and
    index date (columns, `dates`), so `counts` of an organisation is a sum over its practices' rows instead of
    a filter, merge and group-by of the frames (a page asks for it five times). `rows` counts population rows
    (a group exists when it has one, as the group-by of those rows has it). The counts frame's rows are coded
    (practice row, date column, rows of each definition) once per cohort, so a definition's arrays, made on
    its first page, cost a millisecond."""

    dates: list
    rows: np.ndarray
    registered: np.ndarray
    practice: np.ndarray  # practice row of each counts row (-1: not a cohort practice, or a date with no population)
    date: np.ndarray  # date column of each counts row
    of_definition: dict[
        str, np.ndarray
    ]  # counts rows (positions) of each definition (int32, as the codes: half the memory)
    per_definition: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


def _count_grid(aggs: PracticeAggregates) -> _CountGrid | None:
    """The grid's population part and the counts frame's codes, once per cohort (None when practice ids
    repeat: then `counts` uses the frames)."""
    rows_of = _practice_rows(aggs)
    if rows_of is None:
        return None

    def make() -> _CountGrid:
        pop = aggs.population
        on = pop["index_date"].to_numpy(dtype=object)
        dates = sorted(pd.unique(on))
        date_of = pd.Index(dates, dtype=object)
        practice = _codes(pop["practice_id"], rows_of)
        date = _codes(on, date_of)
        shape = (len(rows_of), len(dates))
        ones = np.ones(len(pop), dtype="int64")
        res = aggs.counts
        res_date = _codes(res["index_date"], date_of)
        res_practice = np.where(res_date >= 0, _codes(res["practice_id"], rows_of), -1)
        return _CountGrid(
            dates,
            _cells(shape, practice, date, ones),
            _cells(shape, practice, date, pop["denominator"].to_numpy(dtype="int64")),
            res_practice.astype("int32"),
            np.where(res_date >= 0, res_date, 0).astype("int32"),
            {k: v.astype("int32") for k, v in res.groupby("definition_id", sort=False).indices.items()},
        )

    return _memo(aggs, "count_grid", make)


def _grid_of(aggs: PracticeAggregates, grid: _CountGrid, d: DefinitionInfo) -> tuple[np.ndarray, ...]:
    """Numerator, denominator and exclusions of `d` per practice and index date (zeros where no row)."""
    got = grid.per_definition.get(d.id)
    if got is None:
        at = grid.of_definition.get(d.id, np.zeros(0, dtype="int64"))
        got = tuple(
            _cells(grid.rows.shape, grid.practice[at], grid.date[at], aggs.counts[c].to_numpy(dtype="int64")[at])
            for c in COUNTS
        )
        grid.per_definition[d.id] = got
    return got


def _grid_counts_by(
    aggs: PracticeAggregates, d: DefinitionInfo, ids: pd.Index, by: list[str], all_dates: bool
) -> pd.DataFrame | None:
    """`counts` from the cohort's count grid: by index date over every date, or by nothing or one practices
    column at the latest date. None (the frames' way) for anything else or when no group would be left."""
    grid = _count_grid(aggs)
    if grid is None or (by != ["index_date"] if all_dates else len(by) > 1 or by == ["index_date"]):
        return None
    if not all_dates and aggs.index_date not in grid.dates:
        return None
    mine = _among(aggs.practices["practice_id"], ids)
    counted = _grid_of(aggs, grid, d)
    if all_dates:
        present = grid.rows[mine].sum(axis=0) > 0
        keys: list = [k for k, p in zip(grid.dates, present, strict=True) if p]
        registered = grid.registered[mine].sum(axis=0)[present]
        got = [a[mine].sum(axis=0)[present] for a in counted]
        key_column = pd.Series(keys, dtype=object)
    else:
        at = grid.dates.index(aggs.index_date)
        chosen = mine & (grid.rows[:, at] > 0)
        if by:
            names = aggs.practices[by[0]].to_numpy(dtype=object)
            chosen &= pd.notna(names)
            keys = sorted(set(names[chosen]))
            group = pd.Index(keys, dtype=object).get_indexer(names[chosen])
            size = len(keys)
            registered = np.bincount(group, grid.registered[chosen, at].astype(float), size).astype("int64")
            got = [np.bincount(group, a[chosen, at].astype(float), size).astype("int64") for a in counted]
            key_column = pd.Series(keys, dtype=aggs.practices[by[0]].dtype)
        else:
            keys = [None] if chosen.any() else []
            registered = grid.registered[chosen, at].sum(keepdims=True)
            got = [a[chosen, at].sum(keepdims=True) for a in counted]
            key_column = None
    if not keys:
        return None
    out = pd.DataFrame(index=pd.RangeIndex(len(keys)))
    if key_column is not None:
        out[by[0]] = key_column
    out["numerator"] = np.asarray(got[0], dtype="int64")
    if d.kind == "register":
        out["denominator"] = np.asarray(registered, dtype="int64")
        out["exclusions"] = 0
    else:
        out["denominator"] = np.asarray(got[1] - got[2], dtype="int64")
        out["exclusions"] = np.asarray(got[2], dtype="int64")
    return out


def counts_all(aggs: PracticeAggregates, defs: list[DefinitionInfo], ids: pd.Index) -> pd.DataFrame:
    """`counts(aggs, d, ids, [])` for every definition in `defs` at once, one row each in that order (the
    summary tables of a page: one filter and one group-by instead of one per definition)."""
    pop = _latest(aggs, "population")
    pop = pop[_among(pop["practice_id"], ids)]
    if pop.empty:  # nothing registered: same (empty) answer as per definition
        return pd.concat([counts(aggs, d, ids, []) for d in defs], ignore_index=True)
    res = _latest(aggs, "counts")
    res = res[_among(res["practice_id"], ids)]
    got = res.groupby("definition_id")[COUNTS].sum().reindex([d.id for d in defs], fill_value=0)
    total = int(pop["denominator"].sum())
    register = np.array([d.kind == "register" for d in defs])
    num = got["numerator"].to_numpy(dtype="int64")
    den = got["denominator"].to_numpy(dtype="int64")
    exc = got["exclusions"].to_numpy(dtype="int64")
    return pd.DataFrame(
        {
            "numerator": num,
            "denominator": np.where(register, total, den - exc).astype("int64"),
            "exclusions": np.where(register, 0, exc).astype("int64"),
        }
    )


def _strata_split(aggs: PracticeAggregates, grouping: str) -> dict[str | None, pd.DataFrame]:
    """Strata rows of one grouping split once by definition (None: the registered population), so a page
    filters its own definition's rows (1/27 of them) instead of the whole frame (350 k rows at 1 M)."""

    def make() -> dict[str | None, pd.DataFrame]:
        s = _strata_filled(aggs, grouping)
        registered = s["definition_id"].isna()
        split: dict[str | None, pd.DataFrame] = dict(tuple(s[~registered].groupby("definition_id", sort=False)))
        split[None] = s[registered]
        return split

    return _memo(aggs, f"strata_split_{grouping}", make)


def strata(aggs: PracticeAggregates, d: DefinitionInfo, ids: pd.Index, grouping: str, by: list[str]) -> pd.DataFrame:
    """Unpublished counts by a demographic breakdown at the latest index date (same rules as `counts`)."""
    split = _strata_split(aggs, grouping)
    registered = split[None]
    mine = split.get(d.id, registered.iloc[0:0])
    pop = registered[_among(registered["practice_id"], ids)].groupby(by)["denominator"].sum()
    got = mine[_among(mine["practice_id"], ids)].groupby(by)[COUNTS].sum().reindex(pop.index, fill_value=0)
    return _counted(d, pop, got).reset_index()


@dataclass
class _StrataGrid:
    """One strata grouping summed per practice (rows, in `aggs.practices` order) and category of one column
    (columns, `categories`): an organisation's breakdown is then a sum over its practices' rows instead of a
    filter and group-by of the strata frame (four breakdowns a page, most of a page's build at a million).

    `rows` counts the registered population's strata rows of each cell (a category exists for the
    organisation when it has one, as the group-by of those rows has it). The grouping's rows are coded once
    per cohort; each definition's arrays are made from them on its first page (a millisecond)."""

    categories: list
    practice: np.ndarray  # practice row of each of the grouping's strata rows (-1: not a cohort practice)
    code: np.ndarray  # category of each of the grouping's strata rows
    of_definition: dict[str, np.ndarray]  # the grouping's rows (positions) of each definition
    rows: np.ndarray  # practices x categories: registered strata rows
    registered: np.ndarray  # practices x categories: registered population (denominator)
    per_definition: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


def _practice_rows(aggs: PracticeAggregates) -> pd.Index | None:
    """The cohort's practice ids as an index of rows (None if an id repeats: then the frame filters are used)."""

    def make() -> pd.Index | None:
        index = pd.Index(aggs.practices["practice_id"].astype(object))
        return index if index.is_unique else None

    return _memo(aggs, "practice_rows", make)


def _codes(values: pd.Series | np.ndarray, index: pd.Index) -> np.ndarray:
    """Position in `index` of each value (-1: not there), looking up each distinct value once (a column of a
    million Arrow strings made into Python objects one by one costs more than the whole lookup)."""
    codes, uniques = pd.factorize(values)
    found = index.get_indexer(np.asarray(uniques, dtype=object))
    return np.where(codes >= 0, found[codes], -1)


def _cells(grid_shape: tuple[int, int], practice: np.ndarray, code: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum `weights` into a practices x categories array (rows outside the cohort's practices dropped)."""
    keep = practice >= 0
    flat = practice[keep].astype("int64") * grid_shape[1] + code[keep]
    size = grid_shape[0] * grid_shape[1]
    # float sums of integer counts are exact far beyond any count here (2**53)
    return np.bincount(flat, weights=weights[keep].astype(float), minlength=size).astype("int64").reshape(grid_shape)


def _keys(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A strata frame's values of `column` (AGE_SEX: its age band and sex joined) as Python objects."""
    if column == AGE_SEX:
        return frame["age_band"].to_numpy(dtype=object) + "\x1f" + frame["sex"].to_numpy(dtype=object)
    return frame[column].to_numpy(dtype=object)


def _strata_grid(aggs: PracticeAggregates, grouping: str, column: str) -> _StrataGrid | None:
    """The grid of one grouping's column, made once per cohort (None when practice ids repeat)."""
    rows_of = _practice_rows(aggs)
    if rows_of is None:
        return None

    def make() -> _StrataGrid:
        s = _strata_filled(aggs, grouping)
        keys = _keys(s, column)
        categories = list(pd.unique(keys))
        practice = _codes(s["practice_id"], rows_of)
        code = _codes(keys, pd.Index(categories, dtype=object))
        registered = np.flatnonzero(s["definition_id"].isna().to_numpy())
        shape = (len(rows_of), len(categories))
        return _StrataGrid(
            categories,
            practice.astype("int32"),
            code.astype("int32"),
            {k: v.astype("int32") for k, v in s.groupby("definition_id", sort=False).indices.items()},
            _cells(shape, practice[registered], code[registered], np.ones(len(registered), dtype="int64")),
            _cells(shape, practice[registered], code[registered], s["denominator"].to_numpy(dtype="int64")[registered]),
        )

    return _memo(aggs, f"strata_grid\x1f{grouping}\x1f{column}", make)


def _grid_counts(
    aggs: PracticeAggregates, grid: _StrataGrid, grouping: str, column: str, d: DefinitionInfo
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numerator, denominator and exclusions of definition `d` per practice and category (zeros where it has
    no strata row), summed once per cohort and definition."""
    got = grid.per_definition.get(d.id)
    if got is None:
        at = grid.of_definition.get(d.id, np.zeros(0, dtype="int64"))
        s = _strata_filled(aggs, grouping)
        got = tuple(
            _cells(grid.rows.shape, grid.practice[at], grid.code[at], s[c].to_numpy(dtype="int64")[at]) for c in COUNTS
        )
        grid.per_definition[d.id] = got
    return got


def _counted(d: DefinitionInfo, registered: pd.Series, got: pd.DataFrame) -> pd.DataFrame:
    """Numerator, denominator and exclusions by the published rule: a register's denominator is everyone
    registered (no exclusions); an indicator's is its own denominator less its exclusions."""
    out = pd.DataFrame(index=registered.index)
    out["numerator"] = got["numerator"].astype("int64")
    if d.kind == "register":
        out["denominator"] = registered.astype("int64")
        out["exclusions"] = 0
    else:
        out["denominator"] = (got["denominator"] - got["exclusions"]).astype("int64")
        out["exclusions"] = got["exclusions"].astype("int64")
    return out


def _row(d: DefinitionInfo, row, rate, lo, hi) -> dict:
    return {"id": d.id, "version": d.version, "label": d.title, "kind": d.kind, "numerator": row.numerator,
            "denominator": row.denominator, "exclusions": row.exclusions, "rate": rate, "lo": lo, "hi": hi}  # fmt: skip


def build(aggs: PracticeAggregates, level: OrgLevel, org_id: str, definition_id: str = DEFAULT_DEFINITION) -> Dashboard:
    """Everything the dashboard page and its API endpoint show for one organisation and definition."""
    chosen = definition(aggs, definition_id)
    ids = practice_ids(aggs, level, org_id)
    org = OrgRef(level, org_id, org_name(aggs, level, org_id))
    summary, indicator_rows = org_tables(aggs, level, org_id, ids)
    clevel = child_level(level)
    dash = Dashboard(
        org=org,
        breadcrumbs=breadcrumbs(aggs, level, org_id),
        definition=chosen,
        run_id=aggs.run_id,
        snapshot_id=aggs.snapshot_id,
        index_date=aggs.index_date.isoformat(),
        index_dates=[x.isoformat() for x in aggs.index_dates],
        summary=summary,
        indicators=indicator_rows,
        child_level=clevel,
        children=_children(aggs, ids, clevel, chosen) if clevel is not None else [],
    )
    figures = [_funnel(aggs, level, org_id, ids, chosen, dash.measure), _spc(aggs, ids, chosen, dash.measure)]
    for column, label, fig_id in BREAKDOWN_FIGURES:
        fig, rows = _breakdown(aggs, ids, chosen, dash.measure, column, label, fig_id)
        figures.append(fig)
        dash.breakdowns[column] = rows
    dash.figures = figures
    return dash


def _org_tables_key(level: OrgLevel, org_id: str) -> str:
    return f"org_tables\x1f{level.value}\x1f{org_id}"


def org_tables(
    aggs: PracticeAggregates, level: OrgLevel, org_id: str, ids: pd.Index | None = None
) -> tuple[list[dict], list[dict]]:
    """The organisation's register table (published prevalence with age-sex standardised rates) and indicator
    table: the same on every definition's page of the organisation, so made once per cohort and organisation
    (a third of a page's build) and copied into each page."""

    def make() -> tuple[list[dict], list[dict]]:
        practices = ids if ids is not None else practice_ids(aggs, level, org_id)
        registers = [d for d in aggs.definitions.values() if d.kind == "register"]
        indicators = [d for d in aggs.definitions.values() if d.kind == "indicator"]

        def table(defs: list[DefinitionInfo]) -> list[dict]:
            if not defs:
                return []
            df = publish(counts_all(aggs, defs, practices), COUNTS)
            if df.empty:  # nobody in this organisation's population (a practice with no patients in the cohort)
                return []
            return [_row(d, row, *r) for d, row, r in zip(defs, df.itertuples(), _rates(df), strict=True)]

        summary = table(registers)
        standardised = _standardised(aggs, practices, registers)
        for s in summary:
            std = standardised.get(s["id"])
            if std is None or pd.isna(s["numerator"]) or not std.reliable:
                std = None  # not shown when the count is suppressed or too small for a stable DSR (< 10 events)
            s["dsr"], s["dsr_lo"], s["dsr_hi"] = (std.rate, std.lower, std.upper) if std else (None, None, None)
        return summary, table(indicators)

    summary, indicators = _memo(aggs, _org_tables_key(level, org_id), make)
    return [dict(r) for r in summary], [dict(r) for r in indicators]


def reuse_org_tables(aggs: PracticeAggregates, page: Dashboard) -> None:
    """Take the organisation's tables from a page of it already built for this cohort (e.g. the warm-up's
    default-definition page, read from the shared file), so another definition's page need not make them."""
    aggs.memo.setdefault(
        _org_tables_key(page.org.level, page.org.id),
        ([dict(r) for r in page.summary], [dict(r) for r in page.indicators]),
    )


def draw(dash: Dashboard) -> Dashboard:
    """Draw every chart of the page into its figure (SVG inline in the page), for pages built ahead of any
    request (the warm-up), where the ~40-90 ms of CPU per chart is nobody's wait."""
    for f in dash.figures:
        if f.chart is not None and f.svg is None:
            f.svg = f.chart.draw()
    return dash


def figure(dash: Dashboard, figure_id: str) -> Figure:
    """One figure of the page by id; NotFound names the ids there are."""
    for f in dash.figures:
        if f.id == figure_id:
            return f
    raise NotFound(
        "figure", f"this page has no figure {figure_id!r}", f"use one of {', '.join(f.id for f in dash.figures)}"
    )


#: (strata column, label, figure id) of the demographic breakdowns shown on every page.
BREAKDOWN_FIGURES = (
    ("imd_quintile", "IMD quintile", "imd"),
    ("ethnicity_6", "Ethnic group", "ethnicity"),
    ("age_band", "Age band", "age"),
    ("sex", "Sex", "sex"),
)


def _band_index(age_band: str) -> int:
    """ESP 2013 band index (0-18) of the engine's age band label ('00-04' ... '85-89', '90+')."""
    return 18 if str(age_band).startswith("90") else int(str(age_band)[:2]) // 5


def _standardised(aggs: PracticeAggregates, ids: pd.Index, registers: list[DefinitionInfo]) -> dict[str, DsrResult]:
    """Age-sex standardised prevalence (per 100, ESP 2013) per register, so places with older or younger
    lists can be compared fairly. Computed from the engine's age band x sex strata; shown only beside a
    published count."""
    out: dict[str, DsrResult] = {}
    grid = _strata_grid(aggs, "age_sex", AGE_SEX)
    if grid is not None:
        mine = _among(aggs.practices["practice_id"], ids)
        pop = grid.registered[mine].sum(axis=0)
        cells = sorted(
            (tuple(k.split("\x1f")), i)
            for i, k in enumerate(grid.categories)
            if pop[i] > 0 and k.split("\x1f")[1] in ("F", "M") and k.split("\x1f")[0] != NOT_RECORDED
        )
        if not cells:
            return out
        at = np.array([i for _, i in cells], dtype="int64")
        den = pop[at].astype(float)
        bands = np.array([_band_index(band) for (band, _), _ in cells], dtype="int64")
        sexes = np.array([sex for (_, sex), _ in cells], dtype=object)
        for d in registers:
            nums = _grid_counts(aggs, grid, "age_sex", AGE_SEX, d)[0][mine].sum(axis=0)[at].astype(float)
            out[d.id] = dsr(nums, den, bands, sexes, standard_bands=np.arange(19), n_sexes=2, multiplier=100)
        return out
    by = ["age_band", "sex"]
    s = _strata_filled(aggs, "age_sex")
    s = s[_among(s["practice_id"], ids)]
    pop = s[s["definition_id"].isna()].groupby(by)["denominator"].sum()
    keep = pop.index[pop.index.get_level_values("sex").isin(["F", "M"])]
    keep = keep[(keep.get_level_values("age_band") != NOT_RECORDED) & (pop.loc[keep].to_numpy() > 0)]
    if keep.empty:
        return out
    den = pop.loc[keep].to_numpy(dtype=float)
    bands = keep.get_level_values("age_band").map(_band_index).to_numpy()
    sexes = keep.get_level_values("sex").to_numpy()
    got = s[s["definition_id"].notna()].groupby(["definition_id", *by])["numerator"].sum()
    for d in registers:
        # registers only: the denominator is the registered population (as `strata` gives for a register)
        num = got.loc[d.id].reindex(keep, fill_value=0) if d.id in got.index.get_level_values(0) else None
        nums = num.to_numpy(dtype=float) if num is not None else np.zeros(len(keep))
        out[d.id] = dsr(nums, den, bands, sexes, standard_bands=np.arange(19), n_sexes=2, multiplier=100)
    return out


def _children(aggs: PracticeAggregates, ids: pd.Index, clevel: OrgLevel, d: DefinitionInfo) -> list[dict]:
    df = counts(aggs, d, ids, [clevel.value]).rename(columns={clevel.value: "org_id"})
    df, _ = publish_parts(df, "org_id", COUNTS)
    out = []
    for row, (rate, lo, hi) in zip(df.itertuples(), _rates(df), strict=True):
        ref = OrgRef(clevel, str(row.org_id), org_name(aggs, clevel, str(row.org_id)))
        out.append({"ref": ref, "numerator": row.numerator, "denominator": row.denominator,
                    "exclusions": row.exclusions, "rate": rate, "lo": lo, "hi": hi})  # fmt: skip
    return out


def _london_value(aggs: PracticeAggregates, d: DefinitionInfo) -> float | None:
    """The London figure (all practices this requester may see), from published counts, as a proportion: the
    same on every page of the definition, so worked out once per cohort and definition."""

    def make() -> tuple[float | None]:
        df = publish(counts(aggs, d, pd.Index(aggs.practices["practice_id"]), []), COUNTS)
        num, den = df["numerator"].iloc[0], df["denominator"].iloc[0]
        if pd.isna(num) or pd.isna(den) or not den:
            return (None,)
        return (float(num) / float(den),)

    return _memo(aggs, f"london_value\x1f{d.id}", make)[0]


def _funnel(
    aggs: PracticeAggregates, level: OrgLevel, org_id: str, ids: pd.Index, d: DefinitionInfo, measure: str
) -> Figure:
    """Practices against the London value: the org's practices, or a practice's borough for a practice page."""
    highlight = None
    peer_ids = ids
    if level is OrgLevel.PRACTICE:
        borough = aggs.practices.loc[aggs.practices["practice_id"] == org_id, "borough"].iloc[0]
        peer_ids = practice_ids(aggs, OrgLevel.BOROUGH, borough)
        highlight = org_name(aggs, level, org_id)
    df = counts(aggs, d, peer_ids, ["practice_id"])
    df, _ = publish_parts(df, "practice_id", COUNTS)
    names = aggs.practices.set_index("practice_id")["name"]
    df["name"] = df["practice_id"].map(names)
    shown = df.dropna(subset=["numerator", "denominator"])
    shown = shown[shown["denominator"] > 0]
    title = f"{d.title}: {measure} by practice (funnel plot)"
    columns = ["Practice", "Denominator", "Numerator", measure.capitalize(), "Compared with London"]

    def plain_rows() -> list[list[str]]:
        return [[str(x.name), fmt_count(x.denominator), fmt_count(x.numerator), "–", "–"] for x in df.itertuples()]

    target = _london_value(aggs, d)
    if len(shown) < 2 or target is None:
        return Figure(
            "funnel",
            title,
            None,
            columns,
            plain_rows(),
            "Too few practices with publishable counts to draw a funnel plot.",
        )
    nums = shown["numerator"].astype(float).to_numpy()
    dens = shown["denominator"].astype(float).to_numpy()
    if target in (0.0, 1.0):
        return Figure(
            "funnel",
            title,
            None,
            columns,
            plain_rows(),
            f"The London {measure} is {100 * target:.0f}%, so there is no spread to compare.",
        )
    cls = st_funnel.classify(nums, dens, target)
    outlier = np.select(
        [cls["signal"].eq("above 99.8%"), cls["signal"].eq("below 99.8%")],
        ["above 99.8%", "below 99.8%"],
        "within limits",
    )
    points = pd.DataFrame(
        {
            "name": shown["name"].to_numpy(),
            "denominator": dens,
            "rate": 100 * cls["value"].to_numpy(),
            "outlier": outlier,
        }
    )
    grid = np.linspace(max(1.0, dens.min() * 0.8), dens.max() * 1.1, 60)
    lim = st_funnel.limits(grid, target)
    limits = pd.DataFrame(
        {"denominator": grid, "lo95": 100 * lim["lower_95"], "hi95": 100 * lim["upper_95"],
         "lo998": 100 * lim["lower_99_8"], "hi998": 100 * lim["upper_99_8"]}
    )  # fmt: skip
    chart = charts.funnel(
        "funnel",
        title,
        f"Each dot is a practice: denominator across, {measure} up. The line at {100 * target:.1f}% is the London "
        f"value; dashed lines are 95% and solid lines 99.8% limits. "
        f"{int((outlier != 'within limits').sum())} of {len(points)} practices lie outside the 99.8% limits.",
        points,
        limits,
        100 * target,
        highlight,
    )
    by_name = dict(zip(points["name"], points["outlier"], strict=True))
    rows = []
    for x, (rate, _, _) in zip(df.itertuples(), _rates(df), strict=True):
        rows.append(
            [
                str(x.name),
                fmt_count(x.denominator),
                fmt_count(x.numerator),
                fmt_pct(rate),
                by_name.get(x.name, "not shown"),
            ]
        )
    return Figure(
        "funnel",
        title,
        chart,
        columns,
        rows,
        "Limits around the London value; practices with suppressed counts are listed but not plotted.",
    )


def _spc(aggs: PracticeAggregates, ids: pd.Index, d: DefinitionInfo, measure: str) -> Figure:
    """The definition's rate at every index date of the run, as an XmR chart (NHS 'Making Data Count')."""
    df = counts(aggs, d, ids, ["index_date"], all_dates=True).sort_values("index_date").reset_index(drop=True)
    df = publish(df, COUNTS)
    rates = _rates(df)
    dates = pd.to_datetime(df["index_date"])
    title = f"{d.title}: {measure} at each index date (SPC XmR chart)"
    columns = ["Index date", "Numerator", "Denominator", measure.capitalize(), "Signal"]
    if len(df) < 3 or any(r[0] is None for r in rates):
        rows = [[t.strftime("%d %b %Y"), fmt_count(x.numerator), fmt_count(x.denominator), fmt_pct(r[0]), ""]
                for t, x, r in zip(dates, df.itertuples(), rates, strict=True)]  # fmt: skip
        return Figure(
            "spc",
            title,
            None,
            columns,
            rows,
            "Too few index dates, or some counts too small to publish, so no chart is drawn at this level.",
        )
    values = np.array([r[0] for r in rates], dtype=float)
    chart = spc.analyse(values)
    centre, lower, upper = (float(chart[c].iloc[0]) for c in ("mean", "lower", "upper"))
    signals = ["" if v == "common cause" else v for v in chart["variation"]]
    series = pd.DataFrame({"month": dates, "count": values, "signal": signals})
    n_signals = sum(1 for v in signals if v)
    chart = charts.spc(
        "spc",
        title,
        f"{measure.capitalize()} of {d.title} at {len(values)} index dates; average {centre:.1f}%, process limits "
        f"{max(lower, 0):.1f}% to {min(upper, 100):.1f}%. {n_signals} point(s) show special-cause variation.",
        series,
        centre,
        max(lower, 0.0),
        min(upper, 100.0),
        y_title=f"{measure.capitalize()} (%)",
    )
    rows = [[t.strftime("%d %b %Y"), fmt_count(x.numerator), fmt_count(x.denominator), fmt_pct(v), s or "common cause"]
            for t, x, v, s in zip(dates, df.itertuples(), values, signals, strict=True)]  # fmt: skip
    return Figure(
        "spc", title, chart, columns, rows,
        "XmR chart of the rate from published counts, with the NHS 'Making Data Count' rules: a point outside the "
        "limits, a shift of 7, a trend of 7, or two of three points near a limit.",
    )  # fmt: skip


def _breakdown(
    aggs: PracticeAggregates, ids: pd.Index, d: DefinitionInfo, measure: str, column: str, label: str, fig_id: str
) -> tuple[Figure, list[dict]]:
    df, _ = publish_parts(_breakdown_counts(aggs, ids, d, column), "category", COUNTS, breakdown=True)
    title = f"{d.title}: {measure} by {label.lower()}"
    columns = [label, "Denominator", "Numerator", measure.capitalize(), "95% interval"]
    rows, plot, data = [], [], []
    for x, (rate, lo, hi) in zip(df.itertuples(), _rates(df), strict=True):
        rows.append([x.category, fmt_count(x.denominator), fmt_count(x.numerator), fmt_pct(rate),
                     f"{lo:.1f}–{hi:.1f}%" if rate is not None else "–"])  # fmt: skip
        data.append({"value": x.category, "numerator": x.numerator, "denominator": x.denominator,
                     "exclusions": x.exclusions, "rate": rate, "lo": lo, "hi": hi})  # fmt: skip
        if rate is not None:
            plot.append({"category": x.category, "rate": rate, "lo": lo, "hi": hi})
    if len(plot) < 2:
        return Figure(
            fig_id, title, None, columns, rows, "Too few groups with publishable counts to draw a chart."
        ), data
    pdf = pd.DataFrame(plot)
    top = pdf.loc[pdf["rate"].idxmax()]
    note = "Crude rates with Wilson 95% intervals, from published (rounded) counts."
    summary = _inequality_summary(df, column)
    if summary:
        note = f"{note} {summary}"
    chart = charts.bars_with_ci(
        fig_id,
        title,
        f"Crude {measure} of {d.title} for {len(pdf)} groups; highest in {top['category']} at {top['rate']:.1f}%. "
        + ("" if column == "age_band" else "Rates are not age-standardised, so part of the difference can be age. ")
        + summary,
        pdf,
        label,
    )
    return Figure(fig_id, title, chart, columns, rows, note), data


def _breakdown_counts(aggs: PracticeAggregates, ids: pd.Index, d: DefinitionInfo, column: str) -> pd.DataFrame:
    """Unpublished counts of one breakdown (category, numerator, denominator, exclusions), categories in page
    order ('Not recorded' last; IMD's left out). From the cohort's strata grid: a sum over the organisation's
    practices, where filtering and grouping the strata frame (and pandas' per-row work after it) cost most of
    a page's build; `strata` (the same numbers) when the grid cannot be made."""
    grouping = column if column in ("ethnicity_6", "imd_quintile") else "age_sex"
    grid = _strata_grid(aggs, grouping, column)
    if grid is None:
        df = strata(aggs, d, ids, grouping, [column])
        df = df.groupby(column, as_index=False)[COUNTS].sum()
        keys, num, den, exc = (list(df[column]), *(df[c].to_numpy(dtype="int64") for c in COUNTS))
    else:
        mine = _among(aggs.practices["practice_id"], ids)
        present = np.flatnonzero(grid.rows[mine].sum(axis=0) > 0)
        registered = grid.registered[mine].sum(axis=0)[present]
        got = [a[mine].sum(axis=0)[present] for a in _grid_counts(aggs, grid, grouping, column, d)]
        keys = [grid.categories[i] for i in present]
        num = got[0]
        if d.kind == "register":
            den, exc = registered, np.zeros(len(present), dtype="int64")
        else:
            den, exc = got[1] - got[2], got[2]
    order = sorted(
        (i for i, k in enumerate(keys) if not (column == "imd_quintile" and k == NOT_RECORDED)),
        key=lambda i: (str(keys[i]) == NOT_RECORDED, str(keys[i])),
    )
    return pd.DataFrame(
        {
            "category": [
                IMD_LABELS.get(keys[i], str(keys[i])) if column == "imd_quintile" else str(keys[i]) for i in order
            ],
            "numerator": np.asarray(num, dtype="int64")[order],
            "denominator": np.asarray(den, dtype="int64")[order],
            "exclusions": np.asarray(exc, dtype="int64")[order],
        }
    )


def _inequality_summary(df: pd.DataFrame, column: str) -> str:
    """Slope index of inequality across IMD quintiles; rate ratios against the White group for ethnicity."""
    ok = df.dropna(subset=["numerator", "denominator"])
    ok = ok[ok["denominator"] > 0]
    nums = ok["numerator"].astype(float).to_numpy()
    dens = ok["denominator"].astype(float).to_numpy()
    if column == "imd_quintile":
        if len(ok) < 3 or nums.sum() == 0:
            return ""
        res = inequality.sii(100 * nums / dens, dens, simulations=2000)
        return (
            f"Slope index of inequality {res.sii:+.1f} percentage points from most to least deprived "
            f"(95% CI {res.sii_lower:+.1f} to {res.sii_upper:+.1f})."
        )
    if column != "ethnicity_6":
        return ""
    groups = [str(c) for c in ok["category"]]
    if "White" not in groups or len(groups) < 2 or nums[groups.index("White")] == 0:
        return ""
    rr = inequality.rate_ratios(nums, dens, groups, "White")
    parts = [f"{g} {r:.2f}" for g, r in zip(rr["group"], rr["ratio"], strict=True) if g != "White"]
    return ("Rate ratios against the White group — " + "; ".join(parts) + ".") if parts else ""


def as_json(d: Dashboard) -> dict:
    """The API form of a dashboard: published counts and rates only (no SVG), with what to cite."""

    def num(v):
        return None if v is None or pd.isna(v) else (round(float(v), 3) if isinstance(v, float) else int(v))

    def row(x: dict) -> dict:
        return {k: num(x[k]) for k in ("numerator", "denominator", "exclusions", "rate", "lo", "hi")}

    def cite(x: dict) -> dict:
        return {"definition": x["id"], "version": x["version"], "label": x["label"]}

    return {
        "org": {"level": SLUG_OF[d.org.level], "id": d.org.id, "name": d.org.name},
        "index_date": d.index_date,
        "index_dates": d.index_dates,
        "run_id": d.run_id,
        "snapshot_id": d.snapshot_id,
        "definition": {
            "id": d.definition.id,
            "version": d.definition.version,
            "title": d.definition.title,
            "kind": d.definition.kind,
            "measure": d.measure,
        },  # fmt: skip
        "prevalence": [
            {**cite(s), **row(s), "dsr": num(s["dsr"]), "dsr_lo": num(s["dsr_lo"]), "dsr_hi": num(s["dsr_hi"])}
            for s in d.summary
        ],
        "indicators": [{**cite(i), **row(i)} for i in d.indicators],
        "children": [
            {"level": SLUG_OF[c["ref"].level], "id": c["ref"].id, "name": c["ref"].name, **row(c)} for c in d.children
        ],
        "breakdowns": {k: [{"value": str(x["value"]), **row(x)} for x in rows] for k, rows in d.breakdowns.items()},
    }
