"""The offline feature store: one Parquet table per output under `data.features_dir`, partitioned
by dataset and run date (`<table>/dataset=<name>/run_date=<YYYY-MM-DD>/`).

Writes use Spark's dynamic partition overwrite, so a rerun replaces its own date's partition and
leaves every other date as it was. Paths go through Hadoop's file system API, so the store may be
a local folder, HDFS or an object store.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from hz45.errors import DataNotFound


class FeatureStore:
    def __init__(self, spark: SparkSession, root: str, dataset: str, run_date: date):
        self.spark, self.root, self.dataset, self.run_date = spark, root.rstrip("/"), dataset, run_date

    def table_path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def partition_path(self, table: str) -> str:
        return f"{self.table_path(table)}/dataset={self.dataset}/run_date={self.run_date.isoformat()}"

    def write(self, df: DataFrame, table: str, rows: int) -> None:
        """Replace this run's partition of `table` with `df` (`rows` long, already counted)."""
        if rows == 0:
            # Dynamic overwrite only replaces partitions that receive rows: an empty result
            # replaces the partition folder itself, with one empty file that keeps the schema.
            df.coalesce(1).write.mode("overwrite").parquet(self.partition_path(table))
            return
        (
            df.withColumn("dataset", F.lit(self.dataset))
            .withColumn("run_date", F.lit(self.run_date))
            .write.mode("overwrite")
            .partitionBy("dataset", "run_date")
            .parquet(self.table_path(table))
        )

    def read(self, table: str) -> DataFrame:
        """This run's partition of `table`, without the partition columns."""
        path = self.partition_path(table)
        if not self._exists(path):
            raise DataNotFound(
                f"feature store: no {table} for dataset {self.dataset} on {self.run_date}",
                f"run `hz45 features build --date {self.run_date} --dataset {self.dataset}` first",
            )
        return self.spark.read.parquet(path)

    def _exists(self, path: str) -> bool:
        jvm = self.spark.sparkContext._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        fs = hadoop_path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        return bool(fs.exists(hadoop_path))
