"""Electronic frailty index (eFI) over the record store.

Clegg A, Bates C, Young J, et al. Development and validation of an electronic frailty index using routine primary
care electronic health record data. Age Ageing 2016;45:353-360. The eFI is the proportion of 36 deficits present:
35 coded deficits (codelists efi_gm-sde/, the published Read codes mapped to SNOMED CT; see the reference README)
and polypharmacy. Categories by the published cut-offs: fit <= 0.12, mild <= 0.24, moderate <= 0.36, severe above.
It is defined for people aged 65 and over.

Polypharmacy here is 5 or more distinct dm+d products issued in the 12 months before the index date. The published
deficit counts distinct drugs; dm+d product codes can split one drug into several products (brands, strengths), so
this may over-count slightly where a patient switches product within the year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from carecommons.core.dates import months_back
from carecommons.risk import codes
from carecommons.risk._store import CODES_TABLE, POP_TABLE, Feature, check_index_date, load_codes, population

N_DEFICITS = 36
MIN_AGE = 65
POLYPHARMACY_MIN_PRODUCTS = 5
POLYPHARMACY_MONTHS = 12
CATEGORIES = ("fit", "mild", "moderate", "severe")
CUTS = (0.12, 0.24, 0.36)


def category(efi: np.ndarray | pd.Series) -> np.ndarray:
    """Clegg 2016 category of eFI values: fit (<= 0.12), mild (<= 0.24), moderate (<= 0.36), severe (> 0.36).

    Comparisons are made on deficit counts (x/36) so that 0.12 = 4.32/36 boundaries are not at the mercy of
    floating-point rounding.
    """
    counts = np.round(np.asarray(efi, dtype=np.float64) * N_DEFICITS, 6)
    limits = [c * N_DEFICITS for c in CUTS]
    return np.select([counts <= limits[0], counts <= limits[1], counts <= limits[2]], CATEGORIES[:3], CATEGORIES[3])


def _features() -> list[Feature]:
    return [Feature(f"efi:{d}", codes.snomed(f"efi:{d}").codes) for d in codes.EFI_DEFICITS]


def frailty(
    con: duckdb.DuckDBPyConnection,
    index_date: dt.date | str,
    min_age: int = MIN_AGE,
    patient_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """eFI of every patient aged `min_age`+ registered on the index date.

    Columns: patient_id, efi (0-1), category, deficits (sorted list of deficit names present, "polypharmacy"
    included), deficit_count. `patient_ids` restricts the run to named patients.
    """
    d = check_index_date(index_date)
    population(con, d, min_age=min_age, patient_ids=patient_ids)
    load_codes(con, d, _features())
    # Deficit lists are built in SQL: a pandas groupby over ~1 M patients is ten times slower than the scan.
    out = con.execute(
        f"""
        WITH coded AS (
          SELECT DISTINCT e.patient_id, substr(c.feature, 5) AS deficit
          FROM events e
          JOIN {CODES_TABLE} c ON e.code = c.code AND c.source = 'events'
          JOIN {POP_TABLE} p ON e.patient_id = p.patient_id
          WHERE e.date <= $d
        ), poly AS (
          SELECT m.patient_id, 'polypharmacy' AS deficit
          FROM medications m JOIN {POP_TABLE} p ON m.patient_id = p.patient_id
          WHERE m.date <= $d AND m.date > $start
          GROUP BY m.patient_id HAVING count(DISTINCT m.code) >= $k
        ), present AS (SELECT * FROM coded UNION ALL SELECT * FROM poly)
        SELECT p.patient_id,
               coalesce(list(x.deficit ORDER BY x.deficit) FILTER (WHERE x.deficit IS NOT NULL), []) AS deficits
        FROM {POP_TABLE} p LEFT JOIN present x ON p.patient_id = x.patient_id
        GROUP BY p.patient_id ORDER BY p.patient_id
        """,
        {"d": d, "start": months_back(d, POLYPHARMACY_MONTHS), "k": POLYPHARMACY_MIN_PRODUCTS},
    ).df()
    out["deficits"] = [x.tolist() for x in out["deficits"]]
    out["deficit_count"] = out["deficits"].map(len).astype("int64")
    out["efi"] = out["deficit_count"] / N_DEFICITS
    out["category"] = category(out["efi"])
    return out[["patient_id", "efi", "category", "deficits", "deficit_count"]]
