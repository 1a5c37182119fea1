"""Planning dashboards: the view model of one organisation's page, built only from published counts.

Order of work matters for disclosure control: roll practice counts up to the cells shown, publish those
cells (suppress 1-7, round to 5, secondary suppression), and only then compute rates, intervals, funnel
limits and SPC lines from the published numbers. No figure on the page comes from an unpublished count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
import pandas as pd
from markupsafe import Markup

from carecommons.core.errors import NotFound
from carecommons.core.orgs import ICBS, LEVELS_FINE_TO_COARSE, OrgLevel
from carecommons.stats import funnel as st_funnel
from carecommons.stats import inequality, spc
from carecommons.stats.proportions import wilson
from carecommons.stats.standardise import DsrResult, dsr
from carecommons.web import charts
from carecommons.web.aggregates import TREND_MONTHS, PracticeAggregates, child_level, practice_ids
from carecommons.web.disclosure import publish, publish_parts
from carecommons.web.measures import INDICATORS, REGISTERS, Register, register

LEVEL_SLUGS: dict[str, OrgLevel] = {
    "london": OrgLevel.LONDON,
    "ics": OrgLevel.ICB,
    "borough": OrgLevel.BOROUGH,
    "pcn": OrgLevel.PCN,
    "practice": OrgLevel.PRACTICE,
}
SLUG_OF = {v: k for k, v in LEVEL_SLUGS.items()}
IMD_LABELS = {1: "1 (most deprived)", 2: "2", 3: "3", 4: "4", 5: "5 (least deprived)"}


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
    """A chart and its text alternative (the table rows it was drawn from)."""

    id: str
    title: str
    svg: Markup | None
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Dashboard:
    org: OrgRef
    breadcrumbs: list[OrgRef]
    register: Register
    index_date: str
    summary: list[dict]
    indicators: list[dict]
    child_level: OrgLevel | None
    children: list[dict]
    figures: list[Figure] = field(default_factory=list)


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


def build(aggs: PracticeAggregates, level: OrgLevel, org_id: str, register_id: str = "hyp") -> Dashboard:
    """Everything the dashboard page and its API endpoint show for one organisation and register."""
    reg = register(register_id)
    ids = practice_ids(aggs, level, org_id)
    org = OrgRef(level, org_id, org_name(aggs, level, org_id))
    pop = aggs.population[aggs.population["practice_id"].isin(ids)]
    regs = aggs.registers[aggs.registers["practice_id"].isin(ids)]
    total_den = int(pop["denominator"].sum())

    summary_df = pd.DataFrame(
        {
            "register_id": [r.id for r in REGISTERS],
            "numerator": [int(regs.loc[regs["register_id"] == r.id, "numerator"].sum()) for r in REGISTERS],
            "denominator": total_den,
        }
    )
    summary_df = publish(summary_df, ["numerator", "denominator"])
    summary = []
    standardised = _standardised(aggs, ids)
    for r, row, (rate, lo, hi) in zip(REGISTERS, summary_df.itertuples(), _rates(summary_df), strict=True):
        std = standardised.get(r.id)
        if std is None or pd.isna(row.numerator) or not std.reliable:
            std = None  # not shown when the count is suppressed or too small for a stable DSR (< 10 events)
        summary.append({"id": r.id, "label": r.label, "numerator": row.numerator, "denominator": row.denominator,
                        "rate": rate, "lo": lo, "hi": hi,
                        "dsr": std.rate if std else None, "dsr_lo": std.lower if std else None,
                        "dsr_hi": std.upper if std else None})  # fmt: skip

    ind = (
        aggs.indicators[aggs.indicators["practice_id"].isin(ids)]
        .groupby("indicator_id")[["numerator", "denominator"]]
        .sum()
    )
    ind_df = pd.DataFrame(
        {
            "indicator_id": [i.id for i in INDICATORS],
            "numerator": [int(ind["numerator"].get(i.id, 0)) for i in INDICATORS],
            "denominator": [int(ind["denominator"].get(i.id, 0)) for i in INDICATORS],
        }
    )
    ind_df = publish(ind_df, ["numerator", "denominator"])
    indicators = []
    for i, row, (rate, lo, hi) in zip(INDICATORS, ind_df.itertuples(), _rates(ind_df), strict=True):
        indicators.append({"id": i.id, "label": i.label, "numerator": row.numerator, "denominator": row.denominator,
                           "rate": rate, "lo": lo, "hi": hi})  # fmt: skip

    clevel = child_level(level)
    children: list[dict] = []
    if clevel is not None:
        children = _children(aggs, ids, clevel, reg)

    dash = Dashboard(
        org=org,
        breadcrumbs=breadcrumbs(aggs, level, org_id),
        register=reg,
        index_date=aggs.index_date.isoformat(),
        summary=summary,
        indicators=indicators,
        child_level=clevel,
        children=children,
    )
    dash.figures = [
        _funnel(aggs, level, org_id, ids, reg),
        _spc(aggs, ids, reg),
        _breakdown(aggs, ids, reg, "imd_quintile", "IMD quintile"),
        _breakdown(aggs, ids, reg, "ethnicity", "Ethnic group"),
    ]
    return dash


def _standardised(aggs: PracticeAggregates, ids: pd.Index) -> dict[str, DsrResult]:
    """Age-sex standardised prevalence (per 100, ESP 2013) per register, so places with older or younger
    lists can be compared fairly. Computed from the strata; shown only beside a published count."""
    pop = aggs.age_sex[aggs.age_sex["practice_id"].isin(ids)].groupby(["band", "sex"])["denominator"].sum()
    if pop.empty:
        return {}
    regs = aggs.age_sex_registers[aggs.age_sex_registers["practice_id"].isin(ids)]
    num = regs.groupby(["register_id", "band", "sex"])["numerator"].sum()
    out: dict[str, DsrResult] = {}
    bands = pop.index.get_level_values("band").to_numpy()
    sexes = pop.index.get_level_values("sex").to_numpy()
    for r in REGISTERS:
        observed = np.array([float(num.get((r.id, b, s_), 0)) for b, s_ in pop.index])
        out[r.id] = dsr(
            observed, pop.to_numpy(dtype=float), bands, sexes, standard_bands=np.arange(19), n_sexes=2, multiplier=100
        )
    return out


def _children(aggs: PracticeAggregates, ids: pd.Index, clevel: OrgLevel, reg: Register) -> list[dict]:
    p = aggs.practices[aggs.practices["practice_id"].isin(ids)][list(dict.fromkeys(["practice_id", clevel.value]))]
    den = aggs.population.merge(p, on="practice_id").groupby(clevel.value)["denominator"].sum()
    r = aggs.registers[aggs.registers["register_id"] == reg.id].merge(p, on="practice_id")
    num = r.groupby(clevel.value)["numerator"].sum()
    keys = sorted(p[clevel.value].unique())
    df = pd.DataFrame(
        {
            "org_id": keys,
            "denominator": [int(den.get(k, 0)) for k in keys],
            "numerator": [int(num.get(k, 0)) for k in keys],
        }
    )
    df, _ = publish_parts(df, "org_id", ["numerator", "denominator"])
    out = []
    for row, (rate, lo, hi) in zip(df.itertuples(), _rates(df), strict=True):
        ref = OrgRef(clevel, str(row.org_id), org_name(aggs, clevel, str(row.org_id)))
        out.append(
            {"ref": ref, "numerator": row.numerator, "denominator": row.denominator, "rate": rate, "lo": lo, "hi": hi}
        )
    return out


def _funnel(aggs: PracticeAggregates, level: OrgLevel, org_id: str, ids: pd.Index, reg: Register) -> Figure:
    """Practices compared with their peers: the org's practices, or a practice's borough for a practice page."""
    highlight = None
    peer_ids = ids
    if level is OrgLevel.PRACTICE:
        borough = aggs.practices.loc[aggs.practices["practice_id"] == org_id, "borough"].iloc[0]
        peer_ids = practice_ids(aggs, OrgLevel.BOROUGH, borough)
        highlight = org_name(aggs, level, org_id)
    den = aggs.population[aggs.population["practice_id"].isin(peer_ids)].groupby("practice_id")["denominator"].sum()
    r = aggs.registers[(aggs.registers["register_id"] == reg.id) & aggs.registers["practice_id"].isin(peer_ids)]
    num = r.groupby("practice_id")["numerator"].sum()
    df = pd.DataFrame(
        {
            "practice_id": list(den.index),
            "denominator": den.to_numpy(),
            "numerator": [int(num.get(k, 0)) for k in den.index],
        }
    )
    df, _ = publish_parts(df, "practice_id", ["numerator", "denominator"])
    names = aggs.practices.set_index("practice_id")["name"]
    df["name"] = df["practice_id"].map(names)
    shown = df.dropna(subset=["numerator", "denominator"])
    shown = shown[shown["denominator"] > 0]
    title = f"{reg.label} prevalence by practice (funnel plot)"
    columns = ["Practice", "Registered", "On register", "Rate", "Compared with limits"]
    if len(shown) < 2:
        rows = [[str(x.name), fmt_count(x.denominator), fmt_count(x.numerator), "–", "–"] for x in df.itertuples()]
        return Figure(
            "funnel", title, None, columns, rows, "Too few practices with publishable counts to draw a funnel plot."
        )
    nums = shown["numerator"].astype(float).to_numpy()
    dens = shown["denominator"].astype(float).to_numpy()
    if nums.sum() == 0 or nums.sum() == dens.sum():
        rows = [[str(x.name), fmt_count(x.denominator), fmt_count(x.numerator), "–", "–"] for x in df.itertuples()]
        return Figure(
            "funnel", title, None, columns, rows, "Every practice has the same rate, so there is nothing to compare."
        )
    cls = st_funnel.classify(nums, dens)
    target = float(cls["target"].iloc[0])
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
    svg = charts.funnel(
        "funnel",
        title,
        f"Each dot is a practice: registered patients across, {reg.label.lower()} prevalence up. "
        f"The line at {100 * target:.1f}% is the average of these practices; dashed lines are 95% and solid lines 99.8% limits. "
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
    return Figure("funnel", title, svg, columns, rows, "Practices with suppressed counts are listed but not plotted.")


def _spc(aggs: PracticeAggregates, ids: pd.Index, reg: Register) -> Figure:
    inc = aggs.incidence[(aggs.incidence["register_id"] == reg.id) & aggs.incidence["practice_id"].isin(ids)]
    end = pd.Timestamp(aggs.index_date).to_period("M").to_timestamp()
    months = pd.date_range(end=end - pd.offsets.MonthBegin(1), periods=TREND_MONTHS - 1, freq="MS")
    counts = (
        inc.assign(month=pd.to_datetime(inc["month"])).groupby("month")["count"].sum().reindex(months, fill_value=0)
    )
    df = publish(pd.DataFrame({"month": months, "count": counts.to_numpy()}), ["count"])
    title = f"New {reg.label.lower()} diagnoses per month (SPC XmR chart)"
    columns = ["Month", "New diagnoses", "Signal"]
    if df["count"].isna().any():
        rows = [[m.strftime("%b %Y"), fmt_count(c), ""] for m, c in zip(df["month"], df["count"], strict=True)]
        return Figure(
            "spc",
            title,
            None,
            columns,
            rows,
            "Some months have counts too small to publish, so no chart is drawn at this level.",
        )
    values = df["count"].astype(float).to_numpy()
    chart = spc.analyse(values)
    centre, lower, upper = (float(chart[c].iloc[0]) for c in ("mean", "lower", "upper"))
    signals = ["" if v == "common cause" else v for v in chart["variation"]]
    series = pd.DataFrame({"month": df["month"], "count": values, "signal": signals})
    n_signals = sum(1 for v in signals if v)
    svg = charts.spc(
        "spc",
        title,
        f"Monthly count of first {reg.label.lower()} diagnoses over {len(values)} months; average {centre:.1f} a month, "
        f"process limits {max(lower, 0):.1f} to {upper:.1f}. {n_signals} month(s) show special-cause variation.",
        series,
        centre,
        max(lower, 0.0),
        upper,
    )
    rows = [
        [m.strftime("%b %Y"), fmt_count(c), s or "common cause"]
        for m, c, s in zip(df["month"], df["count"], signals, strict=True)
    ]
    return Figure(
        "spc", title, svg, columns, rows,
        "XmR chart with the NHS 'Making Data Count' rules: a point outside the limits, a shift of 7, a trend of 7, "
        "or two of three points near a limit.",
    )  # fmt: skip


def _breakdown(aggs: PracticeAggregates, ids: pd.Index, reg: Register, column: str, label: str) -> Figure:
    pop = aggs.population[aggs.population["practice_id"].isin(ids)]
    regs = aggs.registers[(aggs.registers["register_id"] == reg.id) & aggs.registers["practice_id"].isin(ids)]
    den = pop.groupby(column, dropna=False)["denominator"].sum()
    num = regs.groupby(column, dropna=False)["numerator"].sum()
    keys = [k for k in den.index if not pd.isna(k)] if column == "imd_quintile" else list(den.index)
    keys = sorted(keys, key=lambda k: (str(k) == "Not recorded", k))
    cats = [IMD_LABELS.get(int(k), str(k)) if column == "imd_quintile" else str(k) for k in keys]
    df = pd.DataFrame(
        {
            "category": cats,
            "denominator": [int(den.get(k, 0)) for k in keys],
            "numerator": [int(num.get(k, 0)) for k in keys],
        }
    )
    df, _ = publish_parts(df, "category", ["numerator", "denominator"], breakdown=True)
    fig_id = "imd" if column == "imd_quintile" else "ethnicity"
    title = f"{reg.label} prevalence by {label}"
    columns = [label, "Registered", "On register", "Rate", "95% interval"]
    rows, plot = [], []
    for x, (rate, lo, hi) in zip(df.itertuples(), _rates(df), strict=True):
        rows.append([x.category, fmt_count(x.denominator), fmt_count(x.numerator), fmt_pct(rate),
                     f"{lo:.1f}–{hi:.1f}%" if rate is not None else "–"])  # fmt: skip
        if rate is not None:
            plot.append({"category": x.category, "rate": rate, "lo": lo, "hi": hi})
    if len(plot) < 2:
        return Figure(fig_id, title, None, columns, rows, "Too few groups with publishable counts to draw a chart.")
    pdf = pd.DataFrame(plot)
    top = pdf.loc[pdf["rate"].idxmax()]
    note = "Crude rates with Wilson 95% intervals, from published (rounded) counts."
    summary = _inequality_summary(df, column)
    if summary:
        note = f"{note} {summary}"
    svg = charts.bars_with_ci(
        fig_id,
        title,
        f"Crude {reg.label.lower()} prevalence for {len(pdf)} groups; highest in {top['category']} at {top['rate']:.1f}%. "
        "Rates are not age-standardised, so part of the difference between groups can be age. " + summary,
        pdf,
        label,
    )
    return Figure(fig_id, title, svg, columns, rows, note)


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
    groups = [str(c) for c in ok["category"]]
    if "White" not in groups or len(groups) < 2 or nums[groups.index("White")] == 0:
        return ""
    rr = inequality.rate_ratios(nums, dens, groups, "White")
    parts = [f"{g} {r:.2f}" for g, r in zip(rr["group"], rr["ratio"], strict=True) if g != "White"]
    return ("Rate ratios against the White group — " + "; ".join(parts) + ".") if parts else ""


def as_json(d: Dashboard) -> dict:
    """The API form of a dashboard: published counts and rates only (no SVG)."""

    def num(v):
        return None if v is None or pd.isna(v) else (round(float(v), 3) if isinstance(v, float) else int(v))

    def row(x: dict) -> dict:
        return {k: num(x[k]) for k in ("numerator", "denominator", "rate", "lo", "hi")}

    return {
        "org": {"level": SLUG_OF[d.org.level], "id": d.org.id, "name": d.org.name},
        "index_date": d.index_date,
        "register": d.register.id,
        "prevalence": [
            {
                "register": s["id"],
                "label": s["label"],
                **row(s),
                "dsr": num(s["dsr"]),
                "dsr_lo": num(s["dsr_lo"]),
                "dsr_hi": num(s["dsr_hi"]),
            }
            for s in d.summary
        ],  # fmt: skip
        "indicators": [{"indicator": i["id"], "label": i["label"], **row(i)} for i in d.indicators],
        "children": [
            {"level": SLUG_OF[c["ref"].level], "id": c["ref"].id, "name": c["ref"].name, **row(c)} for c in d.children
        ],
    }
