"""Charts drawn on the server: Altair specs rendered to SVG by vl-convert and inlined in the page.

Why server-side SVG: the pages work without JavaScript, print well, and the numbers in the chart are the
same published (disclosure-controlled) numbers as in the table beside it. Every chart carries a <title> and
<desc> and is followed in the page by a data table, its text alternative.

Speed: each chart kind is written once in Altair against *named* datasets and compiled once to Vega; a
request only puts its rows into the named datasets and renders (vl-convert's `vega_to_svg`). Building and
validating Altair objects per request cost more than the rendering itself. Rendering is still ~40-90 ms of
CPU per chart (one JavaScript runtime, one chart at a time), so `funnel`, `spc` and `bars_with_ci` return a
`Chart`: the published data and the words of the chart, drawn (`Chart.draw`) when and where the caller
chooses: in the background warm-up, or when the browser asks for that chart as its own SVG resource.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import altair as alt
import numpy as np
import pandas as pd
import vl_convert as vlc
from markupsafe import Markup

NHS_BLUE = "#005eb8"
NHS_DARK_GREY = "#4c6272"
NHS_RED = "#d5281b"
NHS_GREEN = "#007f3b"
NHS_PURPLE = "#330072"
NHS_TEXT = "#212b32"
FONT = "Arial, sans-serif"

_render_lock = threading.Lock()


def _configure(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (
        chart.configure_axis(labelFont=FONT, titleFont=FONT, labelColor=NHS_TEXT, titleColor=NHS_TEXT)
        .configure_view(stroke=None)
        .configure_legend(labelFont=FONT, labelColor=NHS_TEXT)
    )


def _funnel_spec() -> alt.TopLevelMixin:
    x = alt.X("denominator:Q", title="Registered patients")
    limits = alt.Chart(alt.Data(name="limits"))
    lines = [
        limits.mark_line(color=NHS_DARK_GREY, strokeDash=dash, strokeWidth=1).encode(
            x=x, y=alt.Y(f"{col}:Q", title="Rate (%)")
        )
        for col, dash in (("lo95", [4, 3]), ("hi95", [4, 3]), ("lo998", [1, 0]), ("hi998", [1, 0]))
    ]
    target = alt.Chart(alt.Data(name="target")).mark_rule(color=NHS_BLUE).encode(y="target:Q")
    dots = (
        alt.Chart(alt.Data(name="points"))
        .mark_circle(size=60, opacity=0.9)
        .encode(
            x=x,
            y="rate:Q",
            color=alt.Color(
                "outlier:N",
                scale=alt.Scale(
                    domain=["within limits", "above 99.8%", "below 99.8%"], range=[NHS_BLUE, NHS_RED, NHS_GREEN]
                ),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
        )
    )
    ring = (
        alt.Chart(alt.Data(name="highlight"))
        .mark_point(size=220, color="#000000", strokeWidth=2)
        .encode(x=x, y="rate:Q")
    )
    return _configure(alt.layer(*lines, target, dots, ring).properties(width=560, height=300))


def _spc_spec(x_title: str = "Index date", y_title: str = "Rate (%)") -> alt.TopLevelMixin:
    x = alt.X("month:T", title=x_title, axis=alt.Axis(format="%b %Y"))
    series = alt.Chart(alt.Data(name="series"))
    line = series.mark_line(color=NHS_DARK_GREY).encode(x=x, y=alt.Y("count:Q", title=y_title))
    dots = series.mark_circle(size=50).encode(
        x=x,
        y="count:Q",
        color=alt.Color(
            "signal:N",
            scale=alt.Scale(
                domain=["common cause", "neutral high", "neutral low"], range=[NHS_DARK_GREY, NHS_BLUE, NHS_PURPLE]
            ),
            legend=alt.Legend(title=None, orient="bottom"),
        ),
    )
    rules = alt.Chart(alt.Data(name="rules")).mark_rule(color=NHS_DARK_GREY, strokeDash=[4, 3]).encode(y="v:Q")
    return _configure(alt.layer(line, rules, dots).properties(width=560, height=260))


def _bars_spec(category_title: str, rows: int) -> alt.TopLevelMixin:
    y = alt.Y("category:N", title=category_title, sort=None)
    data = alt.Chart(alt.Data(name="bars"))
    bars = data.mark_bar(color=NHS_BLUE).encode(y=y, x=alt.X("rate:Q", title="Rate (%)"))
    whiskers = data.mark_rule(color=NHS_TEXT).encode(y=y, x="lo:Q", x2="hi:Q")
    return _configure(alt.layer(bars, whiskers).properties(width=480, height=max(120, 28 * rows)))


@cache
def _compiled(kind: str, *args) -> dict:
    """Vega spec of a chart kind, compiled once from its Altair definition."""
    builders: dict[str, Callable[..., alt.TopLevelMixin]] = {
        "funnel": _funnel_spec,
        "spc": _spc_spec,
        "bars": _bars_spec,
    }
    spec = builders[kind](*args).to_dict(validate=False)
    with _render_lock:
        return vlc.vegalite_to_vega(spec)


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for row in df.to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            if isinstance(v, pd.Timestamp | dt.date):
                clean[k] = pd.Timestamp(v).strftime("%Y-%m-%d")
            elif isinstance(v, np.generic):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out


def _render(kind: str, args: tuple, datasets: dict[str, pd.DataFrame | list[dict]]) -> str:
    spec = copy.deepcopy(_compiled(kind, *args))
    for entry in spec.get("data", []):
        if entry.get("name") in datasets:
            rows = datasets[entry["name"]]
            entry["values"] = rows if isinstance(rows, list) else _records(rows)
    with _render_lock:  # one JavaScript runtime: serialise rather than queue inside it
        return vlc.vega_to_svg(spec)


@dataclass(frozen=True)
class Chart:
    """A chart ready to draw: its kind, the published rows of each named dataset (plain values, so a built
    page can be kept in the shared file and drawn later by any worker), and its text alternative."""

    chart_id: str
    title: str
    description: str
    kind: str
    args: tuple
    datasets: tuple[tuple[str, tuple[tuple[tuple[str, object], ...], ...]], ...]

    @classmethod
    def of(cls, chart_id: str, title: str, description: str, kind: str, args: tuple, datasets: dict) -> Chart:
        frozen = tuple(
            (name, tuple(tuple(row.items()) for row in _records(df))) for name, df in sorted(datasets.items())
        )
        return cls(chart_id, title, description, kind, tuple(args), frozen)

    @property
    def alt(self) -> str:
        """The text alternative of the chart as an image: what it shows, then what it says."""
        return f"{self.title}. {self.description}"

    def draw(self) -> Markup:
        """The chart as accessible SVG (role img, title and desc), rendered by vl-convert now."""
        rows = {name: [dict(r) for r in records] for name, records in self.datasets}
        return _accessible(_render(self.kind, self.args, rows), self.chart_id, self.title, self.description)


def _accessible(raw: str, chart_id: str, title: str, description: str) -> Markup:
    """The SVG with role img, a title and a description, as well-formed XML: it is also served on its own as an
    image, where a repeated attribute (vl-convert's root has its own class) makes browsers refuse to draw it."""
    t_id, d_id = f"{chart_id}-title", f"{chart_id}-desc"
    head = f'<svg role="img" aria-labelledby="{t_id} {d_id}" focusable="false" class="cc-chart" style="max-width:100%;height:auto"'
    root = re.match(r"\s*<svg([^>]*)>", raw)
    if root is not None:
        kept = re.sub(r'\s(?:class|role|aria-labelledby|focusable|style)="[^"]*"', "", root.group(1))
        raw = f"<svg{kept}>" + raw[root.end() :]
    svg = re.sub(r"^\s*<svg", head, raw, count=1)
    svg = re.sub(
        r"(<svg[^>]*>)",
        lambda m: (
            f'{m.group(1)}<title id="{t_id}">{html.escape(title)}</title><desc id="{d_id}">{html.escape(description)}</desc>'
        ),
        svg,
        count=1,
    )
    return Markup(svg)


def warm_up() -> None:
    """Compile every chart kind and start vl-convert's JavaScript engine (~1 s) at app start, not in a request."""
    empty = pd.DataFrame()
    _render("funnel", (), {"points": empty})
    for measure in ("Prevalence (%)", "Achievement (%)"):
        _render("spc", ("Index date", measure), {"series": empty})
    for title, rows in (("IMD quintile", 5), ("Ethnic group", 6), ("Ethnic group", 5), ("Sex", 2), ("Age band", 19)):
        _compiled("bars", title, rows)


def funnel(
    chart_id: str,
    title: str,
    description: str,
    points: pd.DataFrame,
    limits: pd.DataFrame,
    target: float,
    highlight: str | None,
) -> Chart:
    """points: name, denominator, rate (%), outlier; limits: denominator, lo95, hi95, lo998, hi998 (%)."""
    ring = points[points["name"] == highlight] if highlight else points.iloc[0:0]
    return Chart.of(
        chart_id,
        title,
        description,
        "funnel",
        (),
        {
            "points": points[["denominator", "rate", "outlier"]],
            "limits": limits,
            "target": pd.DataFrame({"target": [target]}),
            "highlight": ring[["denominator", "rate"]],
        },
    )


def spc(
    chart_id: str,
    title: str,
    description: str,
    series: pd.DataFrame,
    centre: float,
    lower: float,
    upper: float,
    y_title: str = "Rate (%)",
) -> Chart:
    """series: month (the index date), count (the value plotted), signal ('' or a Making Data Count label)."""
    data = series.assign(signal=series["signal"].replace("", "common cause"))
    return Chart.of(
        chart_id,
        title,
        description,
        "spc",
        ("Index date", y_title),
        {"series": data, "rules": pd.DataFrame({"v": [centre, lower, upper]})},
    )


def bars_with_ci(chart_id: str, title: str, description: str, df: pd.DataFrame, category_title: str) -> Chart:
    """df: category, rate, lo, hi (%): horizontal bars with 95% interval whiskers."""
    return Chart.of(
        chart_id, title, description, "bars", (category_title, len(df)), {"bars": df[["category", "rate", "lo", "hi"]]}
    )
