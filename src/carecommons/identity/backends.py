"""Splink database backends: DuckDB on one machine (default), Spark beyond it.

Both read the Parquet inputs written by `prepare`, so a run is repeatable on either without the store.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import duckdb

from carecommons.core.errors import InvalidInput
from carecommons.identity.prepare import sql_path

BACKENDS = ("duckdb", "spark")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise InvalidInput("backend", f"{backend!r} is not a linkage backend", "use duckdb or spark")
    return backend


def local_spark_session(work_dir: Path | None = None, cores: int = 2) -> Any:
    """A local Spark session with Splink's similarity-function jar (Jaro-Winkler etc.) on the class path.

    At scale, pass your cluster's session to `run_linkage(spark=...)` instead; it must load the same jar
    (`splink.backends.spark.similarity_jar_location()`).
    """
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    checkpoints = Path(work_dir or tempfile.mkdtemp(prefix="carecommons-spark-")) / "checkpoints"
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("carecommons-linkage")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(max(4, cores * 4)))
        .config("spark.default.parallelism", str(max(4, cores * 4)))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setCheckpointDir(str(checkpoints))
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def make_db_api(backend: str, inputs: dict[str, Path], spark: Any = None) -> tuple[Any, list[Any]]:
    """(db_api, [gp, feeds] SplinkDataFrames) for `backend`, reading the prepared Parquet files."""
    check_backend(backend)
    if backend == "duckdb":
        from splink.backends.duckdb import DuckDBAPI

        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        for name, path in inputs.items():
            con.execute(f"CREATE TABLE input_{name} AS SELECT * FROM read_parquet({sql_path(path)})")
        api = DuckDBAPI(connection=con)
        frames = [api.register(f"input_{name}", dataset_display_name=name) for name in ("gp", "feeds")]
        return api, frames

    from splink.backends.spark import SparkAPI

    if spark is None:
        spark = local_spark_session()
    api = SparkAPI(spark_session=spark, num_partitions_on_repartition=8)
    frames = [
        api.register(spark.read.parquet(str(inputs[name])), dataset_display_name=name) for name in ("gp", "feeds")
    ]
    return api, frames
