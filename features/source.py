"""The jobs' input: a dataset of the catalog, as Spark DataFrames.

Spark reads Parquet in splits, so the input is always a folder of canonical Parquet tables,
`events.parquet` (the interactions frame) and `tracks.parquet` (the items frame): the layout
`hz45.catalog.write_dummy` writes for large generated datasets. A catalog dataset loaded in memory
is first written in that layout under the feature store's folder, where a cluster's executors can
read it as they read the store.
"""

from __future__ import annotations

import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from hz45 import catalog
from hz45.catalog.base import AUDIO_FEATURES
from hz45.errors import DataNotFound

EVENT_COLUMNS = ("user_id", "item_id", "event_type", "value", "timestamp")
TRACK_COLUMNS = ("item_id", "title", "artist_name", "genre", "release_year", "popularity", *AUDIO_FEATURES)
EVENTS_FILE, TRACKS_FILE = "events.parquet", "tracks.parquet"


@dataclass
class Input:
    events: DataFrame
    tracks: DataFrame


def read_input(spark: SparkSession, folder: Path) -> Input:
    """The canonical events and tracks under `folder`, only the columns the jobs use."""
    for name in (EVENTS_FILE, TRACKS_FILE):
        if not (folder / name).exists():
            raise DataNotFound(f"features: input {folder / name} not found",
                               "give a folder written by hz45.catalog.write_dummy or a catalog dataset name")
    events = spark.read.parquet(str(folder / EVENTS_FILE))
    tracks = spark.read.parquet(str(folder / TRACKS_FILE))
    missing = [c for c in EVENT_COLUMNS if c not in events.columns] + [
        c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise DataNotFound(f"features: input {folder} lacks the columns {missing}")
    return Input(events.select(*EVENT_COLUMNS), tracks.select(*TRACK_COLUMNS))


@contextmanager
def staged_dataset(name: str, staging_root: Path) -> Iterator[Path]:
    """Load catalog dataset `name` and write it as an input folder, removed when the block ends."""
    dataset = catalog.load(name)
    folder = staging_root / f"{name}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    try:
        _write(dataset.interactions[list(EVENT_COLUMNS)], folder / EVENTS_FILE)
        _write(dataset.items[list(TRACK_COLUMNS)], folder / TRACKS_FILE)
        del dataset
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write(frame, path: Path) -> None:
    # Microsecond times: Spark reads Parquet timestamps in micro-, not nanoseconds.
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   coerce_timestamps="us", allow_truncated_timestamps=True)
