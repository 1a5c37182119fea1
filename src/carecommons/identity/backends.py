"""Splink database backends: DuckDB on one machine (default), Spark beyond it.

Both read the Parquet inputs written by `prepare`, so a run is repeatable on either without the store.
"""

from __future__ import annotations

import re
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
    """A local Spark session (or the one already running in this process) ready for Splink.

    At scale, pass your cluster's session to `run_linkage(spark=...)` instead; `make_db_api` adds Splink's
    jar to it either way.
    """
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("carecommons-linkage")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.default.parallelism", str(cores * 2))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    _ensure_checkpoint_dir(spark, work_dir)
    return spark


def _ensure_checkpoint_dir(spark: Any, work_dir: Path | None) -> None:
    """Splink breaks long Spark query lineages by writing Parquet under the checkpoint directory."""
    if spark.sparkContext.getCheckpointDir() is None:
        base = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="carecommons-spark-"))
        spark.sparkContext.setCheckpointDir(str(base / "checkpoints"))


def ensure_splink_jar(spark: Any) -> None:
    """Add Splink's similarity-function jar (Jaro-Winkler, Damerau-Levenshtein) to a running session.

    `ADD JAR` works on a session created elsewhere (the engine's, a cluster's) without a restart, so the
    identity layer never needs to own the session.
    """
    from splink.backends.spark import similarity_jar_location

    jar = similarity_jar_location()
    listed = [row[0] for row in spark.sql("LIST JAR").collect()]
    if not any(Path(entry).name == Path(jar).name for entry in listed):
        spark.sql(f"ADD JAR '{jar}'")


def make_db_api(
    backend: str, inputs: dict[str, Path], spark: Any = None, memory_limit: str | None = None
) -> tuple[Any, list[Any]]:
    """(db_api, [gp, feeds] SplinkDataFrames) for `backend`, reading the prepared Parquet files.

    DuckDB runs in memory and spills to a temp directory beside the inputs, capped at `memory_limit`
    (e.g. "8GB") so a London-scale run shares the machine with the web app.
    """
    check_backend(backend)
    if backend == "duckdb":
        from splink.backends.duckdb import DuckDBAPI

        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        spill = next(iter(inputs.values())).parent / "spill"
        con.execute(f"SET temp_directory = {sql_path(spill)}")
        if memory_limit:
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit):
                raise InvalidInput("memory_limit", f"{memory_limit!r} is not a size", "write it like 8GB")
            con.execute(f"SET memory_limit = '{memory_limit}'")
        for name, path in inputs.items():
            con.execute(f"CREATE TABLE input_{name} AS SELECT * FROM read_parquet({sql_path(path)})")
        api = DuckDBAPI(connection=con)
        frames = [api.register(f"input_{name}", dataset_display_name=name) for name in ("gp", "feeds")]
        return api, frames

    from splink.backends.spark import SparkAPI

    if spark is None:
        spark = local_spark_session()
    ensure_splink_jar(spark)
    _ensure_checkpoint_dir(spark, None)
    # Splink's default lineage breaking (write intermediate tables to Parquet) measured about twice as fast as
    # "persist" in local mode: EM iterations otherwise rebuild ever longer query plans.
    api = SparkAPI(spark_session=spark, num_partitions_on_repartition=spark.sparkContext.defaultParallelism)
    frames = [
        api.register(spark.read.parquet(str(inputs[name])), dataset_display_name=name) for name in ("gp", "feeds")
    ]
    return api, frames
