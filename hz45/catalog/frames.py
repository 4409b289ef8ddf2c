"""Builders that put a source's columns into the canonical frames of `Dataset`, and a check that
a dataset keeps the contract, so every loader yields the same dtypes whatever its source."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES, Dataset

INTERACTION_COLUMNS = ("user_id", "item_id", "event_type", "value", "timestamp")
ITEM_COLUMNS = ("item_id", "title", "artist_id", "artist_name", "genre", "genres", "release_year", "popularity")


def interactions(user_id, item_id, event_type, value, timestamp) -> pd.DataFrame:
    """The canonical interactions frame; `timestamp` is anything pandas reads as UTC times."""
    frame = pd.DataFrame(
        {
            "user_id": np.asarray(user_id, dtype=np.int64),
            "item_id": np.asarray(item_id, dtype=np.int64),
            "event_type": np.asarray(event_type, dtype=object),
            "value": np.asarray(value, dtype=np.float64),
            "timestamp": pd.to_datetime(timestamp, utc=True),
        }
    )
    return frame.reset_index(drop=True)


def no_interactions() -> pd.DataFrame:
    return interactions([], [], [], [], pd.DatetimeIndex([], tz="UTC"))


def items(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical items from a frame holding at least item_id and title: the missing canonical
    columns are added as unknown, the canonical ones come first, extras keep their place after."""
    out = frame.reset_index(drop=True)
    n = len(out)
    defaults = {
        "artist_id": lambda: pd.array([pd.NA] * n, dtype="Int64"),
        "artist_name": lambda: "",
        "genre": lambda: "",
        "genres": lambda: [[] for _ in range(n)],
        "release_year": lambda: pd.array([pd.NA] * n, dtype="Int64"),
        "popularity": lambda: np.nan,
    }
    for column, default in defaults.items():
        if column not in out:
            out[column] = default()
    for column in AUDIO_FEATURES:
        if column not in out:
            out[column] = np.nan
    dtypes = {"item_id": np.dtype(np.int64), "artist_id": pd.Int64Dtype(), "release_year": pd.Int64Dtype(),
              "popularity": np.dtype(np.float64), **{f: np.dtype(np.float64) for f in AUDIO_FEATURES}}
    for column, dtype in dtypes.items():
        if out[column].dtype != dtype:
            out[column] = out[column].astype(dtype)
    for column in ("genre", "artist_name"):
        if out[column].isna().any():
            out[column] = out[column].fillna("")
    first = list(ITEM_COLUMNS) + list(AUDIO_FEATURES)
    return out[first + [c for c in out.columns if c not in first]]


def ids(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """A frame whose id column is int64, first, and the frame's index reset."""
    out = frame.reset_index(drop=True)
    out[column] = out[column].astype(np.int64)
    return out[[column] + [c for c in out.columns if c != column]]


def check(dataset: Dataset) -> None:
    """Raise ValueError naming the first broken rule of the Dataset contract."""
    inter, its = dataset.interactions, dataset.items
    problems = []
    if tuple(inter.columns[: len(INTERACTION_COLUMNS)]) != INTERACTION_COLUMNS:
        problems.append(f"interactions columns {list(inter.columns)}")
    elif str(inter["timestamp"].dtype) != "datetime64[ns, UTC]":
        problems.append(f"interactions.timestamp dtype {inter['timestamp'].dtype}")
    elif not set(inter["event_type"].unique()) <= set(EVENT_TYPES):
        problems.append(f"interactions.event_type values {sorted(set(inter['event_type']))}")
    elif inter["timestamp"].isna().any():
        problems.append("interactions.timestamp has missing values")
    missing = [c for c in (*ITEM_COLUMNS, *AUDIO_FEATURES) if c not in its]
    if missing:
        problems.append(f"items lack {missing}")
    for frame_name, frame, key in (
        ("interactions", inter, "user_id"),
        ("interactions", inter, "item_id"),
        ("items", its, "item_id"),
        ("users", dataset.users, "user_id"),
        ("artists", dataset.artists, "artist_id"),
    ):
        if key in frame and len(frame) and frame[key].dtype != np.int64:
            problems.append(f"{frame_name}.{key} dtype {frame[key].dtype}")
    for frame_name, frame, key in (("items", its, "item_id"), ("users", dataset.users, "user_id"),
                                   ("artists", dataset.artists, "artist_id")):
        if key not in frame or not frame[key].is_unique:
            problems.append(f"{frame_name}.{key} missing or not unique")
    if len(inter) and not inter["item_id"].isin(its["item_id"]).all():
        problems.append("interactions refer to items that are not in items")
    if problems:
        raise ValueError(f"dataset {dataset.name}: {problems[0]}")
