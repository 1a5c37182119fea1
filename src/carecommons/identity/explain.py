"""Why two records were (or were not) linked: the match weight of a pair, comparison by comparison.

A Fellegi-Sunter match weight is a sum: the prior weight (how likely any GP patient is the one) plus, for
each comparison, log2(m/u) of the level the pair falls in. Showing that sum term by term lets a clinician
on the patient record page, or the IG lead reviewing a complaint, see exactly which agreement or
disagreement drove the decision. Explanations carry comparison names, level labels and weights only --
never the compared values -- so they can be logged and shown to people who may not see the record.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.identity.model import for_dialect
from carecommons.identity.person_index import person_for_record
from carecommons.identity.prepare import prepare_records


@dataclass(frozen=True)
class ComparisonWeight:
    """One term of the sum: the comparison, the level the pair fell in, and its weight (log2 Bayes factor)."""

    comparison: str
    level: str
    bayes_factor: float
    match_weight: float
    m_probability: float | None = None
    u_probability: float | None = None


@dataclass(frozen=True)
class PairExplanation:
    feed: str
    record_id: str
    patient_id: int
    method: str
    run_id: str
    prior_weight: float
    comparisons: tuple[ComparisonWeight, ...]
    match_weight: float
    match_probability: float
    waterfall_records: tuple[dict[str, Any], ...] = ()

    @property
    def total_of_terms(self) -> float:
        """Prior plus every comparison weight; equals `match_weight` (the test of a faithful explanation)."""
        return self.prior_weight + sum(c.match_weight for c in self.comparisons)


def _run_model(con: duckdb.DuckDBPyConnection, run_id: str | None) -> tuple[str, dict[str, Any]]:
    if run_id is None:
        rows = con.execute(
            "SELECT run_id, model_json FROM linkage_runs WHERE model_json IS NOT NULL ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
    else:
        rows = con.execute("SELECT run_id, model_json FROM linkage_runs WHERE run_id = $1", [run_id]).fetchall()
    if not rows or rows[0][1] is None:
        raise NotFound(
            "linkage run",
            "no trained linkage model is stored",
            "run `carecommons link` (a run with only NHS-number matches trains no model)",
        )
    return rows[0][0], json.loads(rows[0][1])


def explain_pair(
    con: duckdb.DuckDBPyConnection,
    patient_id: int,
    feed: str,
    record_id: str,
    run_id: str | None = None,
) -> PairExplanation:
    """Score one GP patient against one feed record with a run's model (default: the latest) and explain it.

    Works for any pair, linked or not, so the IG lead can also ask why a link was *not* made.
    """
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    run, model_json = _run_model(con, run_id)
    gp_rows = prepare_records(con, "gp", [str(patient_id)])
    feed_rows = prepare_records(con, feed, [record_id])
    if not gp_rows:
        raise NotFound("patient_id", "no such GP patient in the store", "check the id on the patient record page")
    if not feed_rows:
        raise NotFound("record_id", f"no such {feed} record in the store", "check the feed and record id")
    api = DuckDBAPI(connection=duckdb.connect())
    frames = [
        api.register(_frame(gp_rows), dataset_display_name="gp"),
        api.register(_frame(feed_rows), dataset_display_name="feeds"),
    ]
    linker = Linker(frames, for_dialect(model_json, "duckdb"), log_level=logging.ERROR)
    scored = linker.inference.score_pair(gp_rows[0], feed_rows[0]).as_record_list()[0]
    settings = linker._settings_obj
    prior = math.log2(
        settings._probability_two_random_records_match / (1 - settings._probability_two_random_records_match)
    )
    chart_records = tuple(_strip_values(scored, settings))
    m_u = {r["column_name"]: (r.get("m_probability"), r.get("u_probability")) for r in chart_records}
    terms = []
    for comparison in settings.comparisons:
        name = comparison.output_column_name
        gamma = scored[f"gamma_{name}"]
        level = next(lvl for lvl in comparison.comparison_levels if lvl.comparison_vector_value == gamma)
        weight = float(scored[f"mw_{name}"])
        m, u = m_u.get(name, (None, None))
        terms.append(ComparisonWeight(name, level.label_for_charts, 2.0**weight, weight, m, u))
    return PairExplanation(
        feed=feed,
        record_id=record_id,
        patient_id=int(patient_id),
        method="pair",
        run_id=run,
        prior_weight=prior,
        comparisons=tuple(terms),
        match_weight=float(scored["match_weight"]),
        match_probability=float(scored["match_probability"]),
        waterfall_records=chart_records,
    )


def explain_record(con: duckdb.DuckDBPyConnection, record_id: str, feed: str | None = None) -> PairExplanation:
    """Explain the link the person index holds for a feed record (`carecommons link explain RECORD_ID`).

    For an unlinked record the best GP candidate is not stored, so this raises; use `explain_pair` with a
    candidate patient instead.
    """
    entry = person_for_record(con, record_id, feed)
    if entry.feed == "gp":
        raise InvalidInput(
            "record_id",
            "this is a GP record; links are explained from the feed record",
            "pass a social-care or hospital record id",
        )
    if entry.patient_id is None:
        raise NotFound(
            "record_id",
            "this record is not linked to a GP patient",
            "use explain_pair with a candidate patient_id to see why it scored low",
        )
    pair = explain_pair(
        con, entry.patient_id, entry.feed, entry.record_id, entry.run_id if entry.method == "probabilistic" else None
    )
    return PairExplanation(**{**pair.__dict__, "method": entry.method, "run_id": entry.run_id})


def save_waterfall_chart(explanation: PairExplanation, path: Path) -> Path:
    """Write Splink's waterfall chart of the explanation as .html (self-contained) or .svg/.png (vl-convert)."""
    from splink.internals.charts import WaterfallChart

    if not explanation.waterfall_records:
        raise InvalidInput("explanation", "has no chart data", "build it with explain_pair or explain_record")
    chart = WaterfallChart(list(explanation.waterfall_records), True)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        path.write_text(chart.to_html(inline=True), encoding="utf-8")
    elif suffix in (".svg", ".png"):
        chart.altair_chart.save(str(path))
    else:
        raise InvalidInput(str(path), "unsupported chart format", "use a .html, .svg or .png file name")
    return path


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist(rows)


def _strip_values(scored: dict[str, Any], settings: Any) -> list[dict[str, Any]]:
    """Waterfall chart rows with the compared values removed (Splink's remove_sensitive_data)."""
    from splink.internals.waterfall_chart import records_to_waterfall_data

    return records_to_waterfall_data([scored], settings, True)
