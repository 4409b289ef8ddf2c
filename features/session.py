"""The SparkSession every feature job runs in, built from configuration only.

The master, driver memory and shuffle partitions come from the `spark:` section, so the same jobs
run on `local[*]` or on a cluster by changing configuration. Times are UTC everywhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from features.config import features_config
from hz45.settings import Settings

LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def spark_session(settings: Settings, app_name: str = "hz45-features") -> SparkSession:
    """A SparkSession for the feature jobs (the running one when a session is already active)."""
    options = features_config(settings).spark
    spark_cfg = settings.spark
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the JVM is already up and its command line sets master and driver memory.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(spark_cfg.master).config("spark.driver.memory", spark_cfg.driver_memory)
    if spark_cfg.master.startswith("local"):
        # A local run stays on the loopback interface, and its Python workers run this
        # interpreter, which has the project and its drivers (a cluster's executors get theirs
        # from PYSPARK_PYTHON / spark.pyspark.python).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    builder = (
        builder.config("spark.sql.shuffle.partitions", str(spark_cfg.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        # A rerun for one date replaces only that date's partitions.
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Standard Parquet UTC times (not legacy INT96), so pandas and pyarrow read them as UTC.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        # Large generated datasets store nanosecond times, which Spark reads only as integers.
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .config("spark.jars.ivy", str(settings.path(spark_cfg.packages_cache)))
        .config("spark.ui.enabled", str(options.ui).lower())
        .config("spark.ui.showConsoleProgress", str(options.ui).lower())
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}")
    )
    for key, value in options.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(options.log_level)
    return spark
