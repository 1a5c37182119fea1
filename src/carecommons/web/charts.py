"""Charts drawn on the server: Altair specs rendered to SVG by vl-convert and inlined in the page.

Why server-side SVG: the pages work without JavaScript, print well, and the numbers in the chart are the
same published (disclosure-controlled) numbers as in the table beside it. Every chart carries a <title> and
<desc> and is followed in the page by a data table, its text alternative.
"""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict

import altair as alt
import pandas as pd
import vl_convert as vlc
from markupsafe import Markup

NHS_BLUE = "#005eb8"
NHS_DARK_GREY = "#4c6272"
NHS_RED = "#d5281b"
NHS_GREEN = "#007f3b"
NHS_WARM_YELLOW = "#ffb81c"
FONT = "Arial, sans-serif"

_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 512


def _config(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return chart.configure_axis(
        labelFont=FONT, titleFont=FONT, labelColor="#212b32", titleColor="#212b32"
    ).configure_view(stroke=None)


def to_svg(chart: alt.TopLevelMixin, chart_id: str, title: str, description: str) -> Markup:
    """Render to accessible inline SVG (role=img, <title>, <desc>); identical specs are rendered once."""
    spec = _config(chart).to_json(sort_keys=True)
    with _cache_lock:
        raw = _cache.get(spec)
        if raw is not None:
            _cache.move_to_end(spec)
    if raw is None:
        raw = vlc.vegalite_to_svg(spec)
        with _cache_lock:
            _cache[spec] = raw
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    t_id, d_id = f"{chart_id}-title", f"{chart_id}-desc"
    accessible = (
        f'<svg role="img" aria-labelledby="{t_id} {d_id}" focusable="false" class="cc-chart"'
        f' style="max-width:100%;height:auto"'
    )
    svg = re.sub(r"^\s*<svg", accessible, raw, count=1)
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
    """The first vl-convert call starts its JavaScript engine (~0.5 s); do it at app start, not in a request."""
    vlc.vegalite_to_svg(alt.Chart(pd.DataFrame({"x": [0]})).mark_point().encode(x="x:Q").to_json())


def funnel(points: pd.DataFrame, limits: pd.DataFrame, target: float, highlight: str | None = None) -> alt.LayerChart:
    """points: name, denominator, rate (%), outlier (text); limits: denominator, lo95, hi95, lo998, hi998 (%)."""
    base = alt.Chart(limits)
    x = alt.X("denominator:Q", title="Registered patients")
    lines = []
    for col, dash in (("lo95", [4, 3]), ("hi95", [4, 3]), ("lo998", []), ("hi998", [])):
        lines.append(base.mark_line(color=NHS_DARK_GREY, strokeDash=dash, strokeWidth=1).encode(x=x, y=f"{col}:Q"))
    target_rule = alt.Chart(pd.DataFrame({"t": [target]})).mark_rule(color=NHS_BLUE).encode(y="t:Q")
    pts = points.assign(is_highlight=points["name"].eq(highlight) if highlight else False)
    dots = (
        alt.Chart(pts)
        .mark_circle(size=60, opacity=0.9)
        .encode(
            x=x,
            y=alt.Y("rate:Q", title="Rate (%)"),
            color=alt.Color(
                "outlier:N",
                scale=alt.Scale(
                    domain=["within limits", "above 99.8%", "below 99.8%"], range=[NHS_BLUE, NHS_RED, NHS_GREEN]
                ),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=["name:N", "denominator:Q", "rate:Q"],
        )
    )
    layers = [*lines, target_rule, dots]
    if highlight:
        layers.append(
            alt.Chart(pts[pts["is_highlight"]])
            .mark_point(size=220, color="#000000", strokeWidth=2)
            .encode(x=x, y="rate:Q")
        )
    return alt.layer(*layers).properties(width=560, height=300)


def spc(series: pd.DataFrame, centre: float, lower: float, upper: float) -> alt.LayerChart:
    """series: month (date), count, signal ('' or a Making Data Count variation label); XmR centre and limits."""
    x = alt.X("month:T", title="Month of first diagnosis", axis=alt.Axis(format="%b %Y"))
    line = alt.Chart(series).mark_line(color=NHS_DARK_GREY).encode(x=x, y=alt.Y("count:Q", title="New diagnoses"))
    dots = (
        alt.Chart(series.assign(signal=series["signal"].replace("", "common cause")))
        .mark_circle(size=50)
        .encode(
            x=x,
            y="count:Q",
            color=alt.Color(
                "signal:N",
                scale=alt.Scale(
                    domain=["common cause", "neutral high", "neutral low"],
                    range=[NHS_DARK_GREY, NHS_BLUE, NHS_WARM_YELLOW],
                ),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
        )
    )
    rules = (
        alt.Chart(pd.DataFrame({"v": [centre, lower, upper], "k": ["centre", "lower", "upper"]}))
        .mark_rule(color=NHS_DARK_GREY, strokeDash=[4, 3])
        .encode(y="v:Q")
    )
    return alt.layer(line, rules, dots).properties(width=560, height=260)


def bars_with_ci(df: pd.DataFrame, category_title: str) -> alt.LayerChart:
    """df: category, rate (%), lo, hi (%). Horizontal bars with 95% interval whiskers."""
    y = alt.Y("category:N", title=category_title, sort=None)
    bars = alt.Chart(df).mark_bar(color=NHS_BLUE).encode(y=y, x=alt.X("rate:Q", title="Rate (%)"))
    whiskers = alt.Chart(df).mark_rule(color="#212b32").encode(y=y, x="lo:Q", x2="hi:Q")
    return alt.layer(bars, whiskers).properties(width=480, height=max(120, 28 * len(df)))
