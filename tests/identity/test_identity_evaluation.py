from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from carecommons.core.errors import NotFound
from carecommons.identity.evaluation import evaluate_against_truth, read_truth
from carecommons.identity.person_index import create_tables


def test_counts_are_judged_per_person():
    con = duckdb.connect()
    create_tables(con)
    con.execute(
        """
        INSERT INTO person_index VALUES
          (1, 'gp', '1', 1, 'gp_record', NULL, NULL, 'r'),
          (1, 'gp', '5', 5, 'gp_record', NULL, NULL, 'r'),   -- 5 is a duplicate registration of person 1
          (2, 'gp', '2', 2, 'gp_record', NULL, NULL, 'r'),
          (1, 'hospital', 'H1', 5, 'probabilistic', 0.99, 9, 'r'),  -- right person via the duplicate: TP
          (2, 'hospital', 'H2', 2, 'probabilistic', 0.95, 5, 'r'),  -- truth says person 1: FP and FN
          (-1, 'hospital', 'H3', NULL, 'unlinked', NULL, NULL, 'r'), -- truth says person 2: FN
          (-2, 'hospital', 'H4', NULL, 'unlinked', NULL, NULL, 'r'), -- nobody: TN
          (2, 'social_care', 'S1', 2, 'nhs_number', 1.0, NULL, 'r') -- TP
        """
    )
    truth = pa.table(
        {
            "feed": ["hospital", "hospital", "hospital", "hospital", "social_care", "social_care", "gp"],
            "record_id": ["H1", "H2", "H3", "H4", "S1", "S-QUARANTINED", "1"],
            "patient_id": pa.array([1, 1, 2, None, 2, 2, 1], pa.int64()),
        }
    )
    m = evaluate_against_truth(con, truth)
    assert (m.true_positives, m.false_positives, m.false_negatives, m.true_negatives) == (2, 1, 2, 1)
    assert m.not_in_index == 1
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(2 / 4)
    assert m.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_truth_csv_is_read_with_empty_patient_as_null(tmp_path):
    path = tmp_path / "identity.csv"
    path.write_text("feed,record_id,patient_id\nsocial_care,S1,17\nhospital,H9,\n")
    t = read_truth(path)
    assert t.column("patient_id").to_pylist() == [17, None]
    with pytest.raises(NotFound):
        read_truth(tmp_path / "missing.csv")
