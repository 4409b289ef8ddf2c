"""A small input for the feature jobs with one event breaking each cleaning rule, written in the
input layout (events.parquet, tracks.parquet), and helpers to read the jobs' outputs."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from features.source import EVENTS_FILE, TRACKS_FILE, _write
from hz45.settings import Settings, load_settings

RUN_DATE = date(2025, 1, 10)
AS_OF = datetime(2025, 1, 11, tzinfo=timezone.utc)
GOOD_EVENTS = 80
# Rule -> how many raw events break it first (see features.clean).
BROKEN = {
    "null_key": 1,
    "unknown_event_type": 1,
    "future_timestamp": 1,
    "null_value": 1,
    "rating_out_of_range": 1,
    "non_positive_value": 2,
    "unknown_item": 1,
    "duplicate": 2,
}


def dirty_tracks() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    audio = {
        "danceability": rng.uniform(0, 1, 6), "energy": rng.uniform(0, 1, 6), "key": rng.integers(0, 12, 6) * 1.0,
        "loudness": rng.uniform(-20, -2, 6), "mode": rng.integers(0, 2, 6) * 1.0, "speechiness": rng.uniform(0, 1, 6),
        "acousticness": rng.uniform(0, 1, 6), "instrumentalness": rng.uniform(0, 1, 6),
        "liveness": rng.uniform(0, 1, 6), "valence": rng.uniform(0, 1, 6), "tempo": rng.uniform(60, 180, 6),
        "duration_ms": rng.uniform(1e5, 3e5, 6).round(), "time_signature": np.full(6, 4.0),
    }
    tracks = pd.DataFrame({
        "item_id": np.arange(1, 7, dtype=np.int64),
        "title": [f"Song {i}" for i in range(1, 7)],
        "artist_name": ["A", "B", "A", "C", "D", " "],
        "genre": ["rock", "pop", "  ", "pop", "jazz", "rock"],
        "release_year": pd.array([1999, 2010, 2020, 2099, None, 1985], dtype="Int64"),
        "popularity": [50.0, 70.0, np.nan, 150.0, 10.0, 0.0],
        **audio,
    })
    # Impossible values, to become unknown: a zero duration, a negative tempo, danceability > 1.
    tracks.loc[2, "duration_ms"] = 0.0
    tracks.loc[2, "tempo"] = -5.0
    tracks.loc[3, "danceability"] = 1.5
    # A track without any audio feature.
    for name in audio:
        tracks.loc[4, name] = np.nan
    return tracks


def dirty_events(good: int = GOOD_EVENTS) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    kinds = rng.choice(["play", "play", "play", "skip", "like", "dislike"], size=good)
    # Spread over the 14 days before the end of the run date, some in its last 24 hours.
    offsets = np.sort(rng.uniform(0, 14 * 86_400, good))
    events = pd.DataFrame({
        "user_id": pd.array(rng.integers(1, 6, good), dtype="Int64"),
        "item_id": pd.array(rng.integers(1, 7, good), dtype="Int64"),
        "event_type": kinds.astype(object),
        "value": np.where(kinds == "play", rng.integers(1, 5, good), 1).astype(float),
        "timestamp": [AS_OF - timedelta(seconds=float(s)) for s in offsets],
    })
    events.loc[0, "event_type"] = " PLAY "  # valid once trimmed and lower-cased
    events.loc[0, "value"] = 2.0
    t = AS_OF - timedelta(hours=3)
    bad = pd.DataFrame({
        "user_id": pd.array([None, 1, 1, 1, 1, 1, 1, 1], dtype="Int64"),
        "item_id": pd.array([1, 1, 1, 1, 1, 1, 1, 99], dtype="Int64"),
        "event_type": ["play", "stream", "play", "play", "rating", "play", "skip", "play"],
        "value": [1.0, 1.0, 1.0, np.nan, 7.0, -3.0, 0.0, 1.0],
        "timestamp": [t, t, AS_OF + timedelta(minutes=1), t, t, t, t, t],
    })
    duplicates = events.iloc[[5, 6]]
    frame = pd.concat([events, bad, duplicates], ignore_index=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def write_input(folder: Path, events: pd.DataFrame | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(dirty_events() if events is None else events, folder / EVENTS_FILE)
    _write(dirty_tracks(), folder / TRACKS_FILE)
    return folder


def output(settings: Settings, table: str, dataset: str, run_date: date) -> pd.DataFrame:
    """One run's partition of a feature-store table."""
    path = settings.path(settings.data.features_dir) / table / f"dataset={dataset}" / f"run_date={run_date}"
    return pd.read_parquet(path)


def feature_settings(root: Path, profile: str = "default", **overrides: str) -> Settings:
    """The configuration of `profile` with the store under `root` (and, in the default profile,
    the SQLite main DB too), small Spark and a short k search; `overrides` are HZ45_* variables."""
    environ = dict(os.environ)
    if profile == "default":
        environ["HZ45_SQL__URL"] = f"sqlite:///{root / 'main.db'}"
    environ.update({
        "HZ45_DATA__FEATURES_DIR": str(root / "store"),
        "HZ45_SPARK__MASTER": "local[2]",
        "HZ45_SPARK__DRIVER_MEMORY": "2g",
        "HZ45_SPARK__SHUFFLE_PARTITIONS": "4",
        "HZ45_FEATURES__SPARK__UI": "false",
        "HZ45_FEATURES__CLUSTERS__K_MAX": "6",
        "HZ45_FEATURES__CLUSTERS__SAMPLE_SIZE": "4000",
        **overrides,
    })
    return load_settings(profile=profile, environ=environ)
