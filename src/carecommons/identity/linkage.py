"""Link social-care and hospital records to GP patients and write the person index.

Two steps, cheapest and surest first:
1. Deterministic: a valid NHS number that a GP patient holds, with the same date of birth. The date check
   guards against a valid-but-wrong number (someone else's) copied into a feed.
2. Probabilistic (Splink, Fellegi-Sunter): every remaining record against all GP patients; the best GP
   candidate is accepted when its match probability reaches `threshold`.
GP records sharing a valid NHS number (the same person registered twice) become one person.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.identity import model, person_index
from carecommons.identity.backends import check_backend, make_db_api
from carecommons.identity.prepare import prepare_inputs, sql_path

DEFAULT_THRESHOLD = 0.9
_log = logging.getLogger(__name__)


@dataclass
class LinkageResult:
    """What a run did: counts per feed and method, seconds per step, and the model (for explanations)."""

    run_id: str
    backend: str
    threshold: float
    counts: dict[str, dict[str, int]]
    seconds: dict[str, float] = field(default_factory=dict)
    model_json: dict[str, Any] = field(default_factory=dict)


def _durations(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Seconds per step from the start times of consecutive steps."""
    ends = [t for _, t in marks[1:]] + [end]
    return {name: round(stop - start, 3) for (name, start), stop in zip(marks, ends, strict=True)}


def _deterministic(work: duckdb.DuckDBPyConnection) -> None:
    """Tables gp_person (GP record -> person) and det_links (feed record -> GP patient) in `work`."""
    work.execute(
        """
        CREATE OR REPLACE TABLE gp_person AS
        SELECT CAST(unique_id AS BIGINT) AS patient_id,
               min(CAST(unique_id AS BIGINT)) OVER (
                 PARTITION BY CASE WHEN nhs_valid THEN nhs_number ELSE 'id:' || unique_id END) AS person_id,
               nhs_number, nhs_valid, dob
        FROM gp
        """
    )
    work.execute(
        """
        CREATE OR REPLACE TABLE det_links AS
        SELECT f.unique_id, f.feed, f.record_id, min(g.patient_id) AS patient_id
        FROM feeds f JOIN gp_person g
          ON f.nhs_valid AND g.nhs_valid AND f.nhs_number = g.nhs_number AND f.dob = g.dob
        GROUP BY ALL
        """
    )


def _best_candidates(linker: Any, predictions: Any) -> pa.Table:
    """Best-scoring GP candidate per feed record (ties broken by the smaller patient id, for repeatability)."""
    sql = f"""
        SELECT CASE WHEN source_dataset_l = 'gp' THEN unique_id_l ELSE unique_id_r END AS gp_id,
               CASE WHEN source_dataset_l = 'gp' THEN unique_id_r ELSE unique_id_l END AS unique_id,
               match_weight, match_probability
        FROM {predictions.physical_name}
    """
    pairs = linker.misc.query_sql(sql, output_type="pandas")
    con = duckdb.connect()
    con.register("pairs", pairs)
    return con.sql(
        """
        SELECT unique_id, CAST(gp_id AS BIGINT) AS patient_id, match_weight, match_probability
        FROM pairs
        QUALIFY row_number() OVER (PARTITION BY unique_id ORDER BY match_weight DESC, CAST(gp_id AS BIGINT)) = 1
        """
    ).to_arrow_table()


def _probabilistic(
    backend: str,
    inputs: dict[str, Path],
    spark: Any,
    seed: int,
    em_max_pairs: float | None,
    predict_floor: float,
    trained: dict[str, Any] | None,
    memory_limit: str | None,
) -> tuple[pa.Table, dict[str, Any]]:
    from splink import Linker

    api, frames = make_db_api(backend, inputs, spark, memory_limit)
    if trained is not None:
        linker = Linker(frames, model.for_dialect(trained, api.sql_dialect.sql_dialect_str), log_level=logging.WARNING)
    else:
        linker = Linker(frames, model.settings(), log_level=logging.WARNING)
        model.train(linker, seed=seed, em_max_pairs=em_max_pairs)
    predictions = linker.inference.predict(threshold_match_probability=predict_floor, warning_mode="never")
    best = _best_candidates(linker, predictions)
    return best, linker.misc.save_model_to_json()


def latest_model(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The trained Splink model of the most recent run that trained one."""
    rows = con.execute(
        "SELECT model_json FROM linkage_runs WHERE model_json IS NOT NULL ORDER BY started_at DESC LIMIT 1"
    ).fetchall()
    if not rows:
        raise NotFound("linkage model", "no earlier run trained a model", "run `carecommons link` once without reuse")
    return json.loads(rows[0][0])


def run_linkage(
    con: duckdb.DuckDBPyConnection,
    backend: str = "duckdb",
    threshold: float = DEFAULT_THRESHOLD,
    *,
    spark: Any = None,
    work_dir: Path | None = None,
    seed: int = 42,
    em_max_pairs: float | None = None,
    trained_model: dict[str, Any] | None = None,
    memory_limit: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> LinkageResult:
    """Link every feed record in the store on `con` to GP patients and replace the person index.

    `on_step(name)` is called as each step starts so the CLI can advance a progress bar. `spark` is an
    existing SparkSession for backend="spark" (a local one is started if omitted). `em_max_pairs` caps the
    pairs EM trains on (use ~2e6 at London scale; None trains on every blocked pair). `trained_model` reuses
    a model from an earlier run (`latest_model(con)`) and skips training: train once on one machine, then
    score the full population on Spark, or re-link a new extract with parameters the IG lead has reviewed.
    """
    check_backend(backend)
    if not 0.5 <= threshold < 1:
        raise InvalidInput("threshold", f"{threshold} is outside [0.5, 1)", "use a probability such as 0.9")
    person_index.create_tables(con)
    run_id = f"link-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    own_dir = work_dir is None
    work_path = Path(tempfile.mkdtemp(prefix="carecommons-link-")) if own_dir else Path(work_dir)
    marks: list[tuple[str, float]] = []

    def step(name: str) -> None:
        marks.append((name, time.perf_counter()))
        if on_step:
            on_step(name)

    try:
        step("prepare")
        inputs = prepare_inputs(con, work_path / "inputs")

        step("deterministic")
        work = duckdb.connect()
        work.execute("SET enable_progress_bar = false")
        work.execute(f"CREATE VIEW gp AS SELECT * FROM read_parquet({sql_path(inputs['gp'])})")
        work.execute(f"CREATE VIEW feeds AS SELECT * FROM read_parquet({sql_path(inputs['feeds'])})")
        _deterministic(work)
        rest_path = work_path / "inputs" / "rest.parquet"
        work.execute(
            f"COPY (SELECT * FROM feeds WHERE unique_id NOT IN (SELECT unique_id FROM det_links)) "
            f"TO {sql_path(rest_path)} (FORMAT parquet)"
        )
        n_rest = work.execute(f"SELECT count(*) FROM read_parquet({sql_path(rest_path)})").fetchall()[0][0]
        n_gp = work.execute("SELECT count(*) FROM gp").fetchall()[0][0]

        step("probabilistic")
        model_json: dict[str, Any] = {}
        best = pa.table(
            {
                "unique_id": pa.array([], pa.string()),
                "patient_id": pa.array([], pa.int64()),
                "match_weight": pa.array([], pa.float64()),
                "match_probability": pa.array([], pa.float64()),
            }
        )
        if n_rest and n_gp:
            best, model_json = _probabilistic(
                backend,
                {"gp": inputs["gp"], "feeds": rest_path},
                spark,
                seed,
                em_max_pairs,
                predict_floor=0.5,
                trained=trained_model,
                memory_limit=memory_limit,
            )
        work.register("best", best)

        step("write index")
        rows = work.sql(
            """
            SELECT person_id, 'gp' AS feed, CAST(patient_id AS VARCHAR) AS record_id, patient_id, 'gp_record' AS method,
                   NULL::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight
            FROM gp_person
            UNION ALL
            SELECT g.person_id, d.feed, d.record_id, d.patient_id, 'nhs_number', 1.0, NULL
            FROM det_links d JOIN gp_person g USING (patient_id)
            UNION ALL
            SELECT CASE WHEN b.match_probability >= $threshold THEN g.person_id END, f.feed, f.record_id,
                   CASE WHEN b.match_probability >= $threshold THEN b.patient_id END,
                   CASE WHEN b.match_probability >= $threshold THEN 'probabilistic' ELSE 'unlinked' END,
                   b.match_probability, b.match_weight
            FROM feeds f
            LEFT JOIN best b ON b.unique_id = f.unique_id
            LEFT JOIN gp_person g ON g.patient_id = b.patient_id
            WHERE f.unique_id NOT IN (SELECT unique_id FROM det_links)
            """,
            params={"threshold": threshold},
        ).to_arrow_table()
        con.register("_identity_rows", rows)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM person_index")
            con.execute(
                """
                INSERT INTO person_index
                SELECT coalesce(person_id, -row_number() OVER (ORDER BY feed, record_id)), feed, record_id,
                       patient_id, method, match_probability, match_weight, $run_id
                FROM _identity_rows
                """,
                {"run_id": run_id},
            )
            result_counts = person_index.counts(con)
            elapsed = _durations(marks, time.perf_counter())
            summary = {"counts": result_counts, "seconds": elapsed}
            con.execute(
                "INSERT INTO linkage_runs VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    run_id,
                    started,
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    backend,
                    threshold,
                    json.dumps(model_json) if model_json else None,
                    json.dumps(summary),
                ],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("_identity_rows")
        return LinkageResult(run_id, backend, threshold, result_counts, elapsed, model_json)
    finally:
        if own_dir:
            shutil.rmtree(work_path, ignore_errors=True)
