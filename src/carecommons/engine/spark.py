"""Spark local/cluster session and handing the record store's tables to it.

At city scale Spark reads the canonical tables from Parquet; here the DuckDB store exports the tables a
plan needs to Parquet (DuckDB writes Parquet at disk speed) and Spark registers them as temp views under
their canonical names, so the compiled Spark SQL reads exactly what DuckDB would.
"""

from __future__ import annotations

import os
from pathlib import Path

ENGINE_TABLES = ("patients", "registrations", "events", "medications", "vaccinations")


def session(master: str = "local[2]", app_name: str = "carecommons-engine"):
    """Get (or reuse) a SparkSession tuned for small local runs: few shuffle partitions, no UI."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )


def register_from_duckdb(spark, con, workdir: Path, tables: tuple[str, ...] = ENGINE_TABLES) -> None:
    """Export `tables` from the DuckDB connection to Parquet under `workdir` and register them in Spark."""
    workdir.mkdir(parents=True, exist_ok=True)
    for t in tables:
        path = workdir / f"{t}.parquet"
        con.execute(f"COPY (SELECT * FROM {t}) TO '{path}' (FORMAT PARQUET)")
        spark.read.parquet(str(path)).createOrReplaceTempView(t)
