"""The SparkSession of the streaming job, with Spark's Kafka source resolved from Maven Central
and the job's own JVM operator (streaming/jvm) compiled against the installed Spark.

The connector and its dependencies are fetched once into the ivy cache (spark.packages_cache)
and reused by every later start; the operator's jar is built once per source and Spark version
into the same cache. The master, driver memory and shuffle partitions come from the `spark:`
section, so the job moves to a cluster by configuration alone (Spark ships the jar to executors).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

from hz45.errors import ConfigError
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


JVM_SOURCES = Path(__file__).parent / "jvm"


def processor_jar(cache_dir: Path) -> Path:
    """The jar of streaming/jvm for this pyspark, compiled with the JDK's javac when missing."""
    sources = sorted(JVM_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(pyspark.__version__.encode())
    for source in sources:
        digest.update(source.read_bytes())
    jar = cache_dir / "hz45" / f"hz45-streaming-{digest.hexdigest()[:12]}.jar"
    if jar.exists():
        return jar
    javac, jar_tool = _jdk_tool("javac"), _jdk_tool("jar")
    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as classes:
        built = subprocess.run([javac, "-nowarn", "--release", "17", "-cp", classpath, "-d", classes,
                                *map(str, sources)], capture_output=True, text=True)
        if built.returncode:
            raise RuntimeError(f"javac failed on {JVM_SOURCES}: {built.stderr.strip()}")
        partial = jar.with_suffix(".tmp")
        subprocess.run([jar_tool, "cf", str(partial), "-C", classes, "."], check=True)
        partial.replace(jar)  # whole or not at all, for a start that runs beside this one
    return jar


def _jdk_tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    tool = shutil.which(name, path=str(Path(home) / "bin")) if home else shutil.which(name)
    if tool is None:
        raise ConfigError(f"streaming: `{name}` not found; the job's JVM operator needs a JDK 17+ (set JAVA_HOME)")
    return tool


def spark_session(settings: Settings, config: StreamingConfig, app_name: str = "hz45-streaming") -> SparkSession:
    spark_cfg = settings.spark
    # The record check needs this environment's packages in Spark's Python workers (pyspark reads
    # only the variable for the workers' interpreter); a PYSPARK_PYTHON set by the user still wins.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(spark_cfg.master)
        .config("spark.driver.memory", spark_cfg.driver_memory)
        .config("spark.sql.shuffle.partitions", str(spark_cfg.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.jars", str(processor_jar(settings.path(spark_cfg.packages_cache))))
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
        # No extra micro-batch when no record came: expired de-duplication state is dropped with
        # the next batch that has data.
        .config("spark.sql.streaming.noDataMicroBatches.enabled", "false")
        # Every micro-batch plans its query anew, so the tiered JIT keeps recompiling the planner's
        # code for as long as the job runs; C2 alone settles and leaves that CPU to the batches.
        .config("spark.driver.extraJavaOptions", "-XX:-TieredCompilation")
    )
    for key, value in config.spark_conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
