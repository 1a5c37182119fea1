"""Reference lookups that enrich patients on the way in: IMD decile of the LSOA, ethnicity groups.

Deriving these once at ingest (rather than in every query) gives every definition the same
deprivation and ethnicity breakdowns. Sources (shipped in reference/data, see its README.md):
- LSOA -> IMD 2019 decile: reference/lsoa_geog_lookup.csv (House of Commons Library
  local-health-data-from-QOF @ 496b8e7), column IMD_OVERALL; Welsh LSOAs carry 'Wales' and get NULL.
- SNOMED CT ethnicity -> 16 and 6 groups (2001 census): codelists/opensafely-ethnicity-snomed-0removed.csv
  (OpenCodelists opensafely/ethnicity-snomed-0removed/22911876).
"""

from __future__ import annotations

import duckdb

from carecommons.core.paths import REFERENCE_DATA
from carecommons.ingest.sql import lit

LSOA_FILE = REFERENCE_DATA / "reference" / "lsoa_geog_lookup.csv"
ETHNICITY_FILE = REFERENCE_DATA / "codelists" / "opensafely-ethnicity-snomed-0removed.csv"


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create temp tables `_ref_lsoa(lsoa, imd_decile)` and `_ref_eth(code, label_16, label_6)`."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ref_lsoa AS
        -- NULLIF keeps DuckDB 2.0.1 from pushing the TRY_CAST into the CSV reader, where it would fail
        SELECT LSOA_CODE AS lsoa, TRY_CAST(NULLIF(trim(IMD_OVERALL), '') AS TINYINT) AS imd_decile
        FROM read_csv({lit(str(LSOA_FILE))}, header = true, all_varchar = true)
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ref_eth AS
        SELECT DISTINCT ON (code) code, Label_16 AS label_16, Label_6 AS label_6
        FROM read_csv({lit(str(ETHNICITY_FILE))}, header = true, all_varchar = true)
        ORDER BY code
    """)
