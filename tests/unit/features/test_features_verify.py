"""verify_run: a run's partitions read back from the store pass; a missing required table, an
empty store and a partition broken after it was written each fail, naming table and rule."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_inputs import RUN_DATE, write_input
from features.jobs import build
from features.quality import QualityError
from features.verify import verify_run
from hz45.errors import DataNotFound

DATASET = "verified"
REQUIRED = ("clean_events", "tracks")


@pytest.fixture(scope="module")
def built(settings, spark, tmp_path_factory):
    build(settings, RUN_DATE, DATASET, ["clean"], write_input(tmp_path_factory.mktemp("input")), spark=spark)
    return settings.path(settings.data.features_dir)


def partition(store, table: str, dataset: str = DATASET):
    return store / table / f"dataset={dataset}" / f"run_date={RUN_DATE}"


def test_a_complete_run_passes_with_its_rows(built, settings, spark):
    rows = verify_run(settings, DATASET, RUN_DATE, REQUIRED, spark=spark)
    assert set(REQUIRED) <= set(rows)
    for table in rows:
        assert rows[table] == len(pd.read_parquet(partition(built, table)))


def test_a_required_table_without_rows_fails(built, settings, spark):
    with pytest.raises(QualityError, match="table 'item_features', rule row_count"):
        verify_run(settings, DATASET, RUN_DATE, (*REQUIRED, "item_features"), spark=spark)


def test_a_partition_broken_after_the_write_fails_on_its_rule(built, settings, spark):
    copy = "broken"
    for table in REQUIRED:
        shutil.copytree(partition(built, table), partition(built, table, copy))
    target = partition(built, "clean_events", copy)
    table = pq.read_table(target)
    kinds = table["event_type"].to_pylist()
    kinds[0] = "stream"  # not an event type
    table = table.set_column(table.schema.get_field_index("event_type"), "event_type", pa.array(kinds))
    shutil.rmtree(target)
    target.mkdir(parents=True)
    pq.write_table(table, target / "part-0.parquet")
    with pytest.raises(QualityError, match=r"table 'clean_events', rule values\(event_type in "):
        verify_run(settings, copy, RUN_DATE, REQUIRED, spark=spark)


def test_an_unknown_table_name_is_refused(settings, spark):
    with pytest.raises(DataNotFound, match="no table 'clean_event'"):
        verify_run(settings, DATASET, RUN_DATE, ("clean_event",), spark=spark)
