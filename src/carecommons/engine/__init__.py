"""The engine: compiles definitions to SQL, runs them on DuckDB or Spark, and serves results per purpose.

Public API: ``run(con, library, index_dates, backend="duckdb", progress=True) -> RunSummary`` (a platform
job writing the results tables) and, in engine.results, ``patient_results`` (direct care) and ``aggregates``
(planning), both through governance.
"""

from carecommons.engine.runner import RunSummary, run

__all__ = ["RunSummary", "run"]
