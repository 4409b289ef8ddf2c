"""The SparkSession of the streaming job, with Spark's Kafka source resolved from Maven Central.

The connector and its dependencies are fetched once into the ivy cache (spark.packages_cache)
and reused by every later start. The master, driver memory and shuffle partitions come from the
`spark:` section, so the job moves to a cluster by configuration alone.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from hz45.settings import Settings
from streaming.config import StreamingConfig

# Transitive dependencies of the connector that pyspark already ships in the same versions:
# fetching them again would only put a second copy on the classpath.
BUNDLED = (
    "org.apache.hadoop:hadoop-client-runtime",
    "org.apache.hadoop:hadoop-client-api",
    "org.xerial.snappy:snappy-java",
    "at.yawk.lz4:lz4-java",
    "org.slf4j:slf4j-api",
    "com.google.code.findbugs:jsr305",
    "org.scala-lang.modules:scala-parallel-collections_2.13",
)


def spark_session(settings: Settings, config: StreamingConfig, app_name: str = "hz45-streaming") -> SparkSession:
    spark_cfg = settings.spark
    # The UDFs need this environment's packages (pyspark reads only the variable for the workers'
    # interpreter); a PYSPARK_PYTHON set by the user still wins.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.appName(app_name)
        .master(spark_cfg.master)
        .config("spark.driver.memory", spark_cfg.driver_memory)
        .config("spark.sql.shuffle.partitions", str(spark_cfg.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.jars.packages", config.kafka_connector)
        .config("spark.jars.excludes", ",".join(BUNDLED))
        .config("spark.jars.ivy", str(settings.path(spark_cfg.packages_cache)))
        .config("spark.ui.enabled", str(config.spark_ui).lower())
        .config("spark.ui.showConsoleProgress", "false")
        # Micro-batches are small and frequent: adaptive planning only adds latency here.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.streaming.stateStore.providerClass",
                "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
        # Each micro-batch commits only the changed keys instead of a snapshot of the whole store.
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        # No extra micro-batch just to move the watermark when no record came: old
        # de-duplication state is dropped with the next batch that has data.
        .config("spark.sql.streaming.noDataMicroBatches.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark
