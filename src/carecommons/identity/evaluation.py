"""Linkage quality against ground truth (synth's truth/identity.csv, or a simulated feed's truth table).

A link is judged at the person level: linking a hospital record to either of two GP records of the same
person (a duplicate registration) is correct. Precision = correct links / links made; recall = correct
links / records that truly belong to a GP patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from carecommons.core.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class LinkageMetrics:
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    by_method: dict[str, dict[str, int]]
    not_in_index: int = 0  # truth records never loaded (quarantined by ingest): not a linkage error

    @property
    def precision(self) -> float:
        made = self.true_positives + self.false_positives
        return self.true_positives / made if made else 1.0

    @property
    def recall(self) -> float:
        due = self.true_positives + self.false_negatives
        return self.true_positives / due if due else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def read_truth(path: Path) -> pa.Table:
    """truth/identity.csv as an Arrow table (feed, record_id, patient_id); GP rows are ignored later."""
    if not path.is_file():
        raise NotFound(str(path), "no truth file", "generate synthetic data with truth, or omit --truth")
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={"feed": pa.string(), "record_id": pa.string(), "patient_id": pa.int64()}
        ),
    )
    missing = {"feed", "record_id", "patient_id"} - set(table.column_names)
    if missing:
        raise InvalidInput(str(path), f"missing columns {sorted(missing)}", "use the header feed,record_id,patient_id")
    return table


def evaluate_against_truth(con: duckdb.DuckDBPyConnection, truth: pa.Table | Path) -> LinkageMetrics:
    """Compare the person index on `con` with truth for every non-GP record the truth names.

    Records in the truth but not in the index (ingest quarantined them) are counted in `not_in_index`
    and left out of precision and recall: linkage never saw them.
    """
    table = read_truth(truth) if isinstance(truth, Path) else truth
    con.register("_identity_truth", table)
    try:
        rows = con.execute(
            """
            WITH t AS (
              SELECT t.feed, t.record_id, g.person_id AS true_person
              FROM _identity_truth t
              LEFT JOIN person_index g ON g.feed = 'gp' AND g.patient_id = t.patient_id
              WHERE t.feed <> 'gp'
            ),
            j AS (
              SELECT t.true_person, p.method,
                     CASE WHEN p.patient_id IS NOT NULL THEN p.person_id END AS linked_person
              FROM t LEFT JOIN person_index p ON p.feed = t.feed AND p.record_id = t.record_id
            )
            SELECT coalesce(method, 'not_in_index') AS method,
              count(*) FILTER (WHERE linked_person IS NOT NULL AND linked_person = true_person) AS tp,
              count(*) FILTER (WHERE linked_person IS NOT NULL AND linked_person IS DISTINCT FROM true_person) AS fp,
              count(*) FILTER (WHERE true_person IS NOT NULL AND linked_person IS DISTINCT FROM true_person) AS fn,
              count(*) FILTER (WHERE true_person IS NULL AND linked_person IS NULL) AS tn
            FROM j GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
    finally:
        con.unregister("_identity_truth")
    missing = [r for r in rows if r[0] == "not_in_index"]
    rows = [r for r in rows if r[0] != "not_in_index"]
    by_method = {m: {"tp": tp, "fp": fp, "fn": fn, "tn": tn} for m, tp, fp, fn, tn in rows}
    return LinkageMetrics(
        not_in_index=sum(r[3] + r[4] for r in missing),
        true_positives=sum(r[1] for r in rows),
        false_positives=sum(r[2] for r in rows),
        false_negatives=sum(r[3] for r in rows),
        true_negatives=sum(r[4] for r in rows),
        by_method=by_method,
    )
