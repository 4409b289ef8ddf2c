"""Data-quality checks on what a run left in the offline store, before anything downstream reads it.

Every table's partition for the run date is read back and checked with the rules it was
written under (schema, nulls, ranges, allowed values, unique keys); the tables a run must
produce must be there with rows. This catches a missing or partly written partition, and a run
that wrote nothing, which the checks before each write cannot see.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date

from pyspark.sql import SparkSession

from features import quality
from features.config import features_config
from features.session import spark_session
from features.store import FeatureStore
from features.tables import tables
from hz45.errors import DataNotFound
from hz45.settings import Settings


def verify_run(settings: Settings, dataset: str, run_date: date, required: Sequence[str],
               spark: SparkSession | None = None) -> dict[str, int]:
    """Check every table of `dataset` on `run_date` in the store; return rows per table found.
    Raises QualityError naming the table and the rule; a `required` table must have rows."""
    specs = tables(features_config(settings))
    unknown = [name for name in required if name not in specs]
    if unknown:
        raise DataNotFound(f"features: no table '{unknown[0]}'", f"tables: {', '.join(specs)}")
    store = FeatureStore(spark or spark_session(settings), str(settings.path(settings.data.features_dir)),
                         dataset, run_date)
    rows = {}
    for name, spec in specs.items():
        try:
            stored = store.read(name)
        except DataNotFound:
            # An empty output has no partition (see FeatureStore.write).
            if name in required:
                raise quality.QualityError(name, "row_count", f"no rows for {dataset} on {run_date}") from None
            continue
        rows[name] = quality.check(stored, spec, (1 if name in required else 0, sys.maxsize))
    return rows
