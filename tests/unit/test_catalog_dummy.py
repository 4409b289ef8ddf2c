"""The dummy generator: deterministic by seed, the asked shape, taste in the events, and the
chunked Parquet writer holding the same events as a load in memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from hz45 import catalog
from hz45.catalog import dummy
from hz45.catalog.base import AUDIO_FEATURES
from hz45.catalog.frames import check

SMALL = {"n_users": 150, "n_tracks": 400, "n_events": 3_000}


def test_same_seed_same_data_other_seed_other_data():
    first = catalog.load("dummy", seed=3, **SMALL)
    again = catalog.load("dummy", seed=3, **SMALL)
    other = catalog.load("dummy", seed=4, **SMALL)
    for frame in ("interactions", "items", "users", "artists"):
        pd.testing.assert_frame_equal(getattr(first, frame), getattr(again, frame))
    assert not first.interactions.equals(other.interactions)
    assert not first.items[list(AUDIO_FEATURES)].equals(other.items[list(AUDIO_FEATURES)])


def test_shape_and_ranges():
    data = catalog.load("dummy", seed=1, n_artists=30, **SMALL)
    check(data)
    assert len(data.interactions) == 3_000
    assert len(data.items) == 400 and len(data.users) == 150 and len(data.artists) == 30
    assert data.items["artist_id"].between(1, 30).all()
    assert data.interactions["user_id"].between(1, 150).all()
    assert set(data.interactions["event_type"]) == {"play", "skip", "like", "dislike"}
    assert data.interactions["timestamp"].is_monotonic_increasing
    unit = ["danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence"]
    assert data.items[unit].apply(lambda c: c.between(0, 1).all()).all()
    assert data.items["tempo"].between(50, 220).all() and data.items["loudness"].le(0).all()
    assert data.items[list(AUDIO_FEATURES)].notna().all().all()
    assert data.extras["track_latent"].shape == (400, 1 + dummy.DIM)


def test_events_follow_latent_taste():
    data = catalog.load("dummy", seed=5, n_users=300, n_tracks=2_000, n_events=40_000)
    users = data.extras["user_latent"].drop(columns="user_id").to_numpy()
    tracks = data.extras["track_latent"].drop(columns="item_id").to_numpy()
    events = data.interactions
    affinity = (users[events["user_id"] - 1] * tracks[events["item_id"] - 1]).sum(axis=1)
    mean = pd.Series(affinity).groupby(events["event_type"].to_numpy()).mean()
    assert mean["like"] > mean["play"] > mean["skip"]
    # Audio features carry the latent signal: the latent vector explains most of a track's energy.
    design = np.c_[tracks, np.ones(len(tracks))]
    for feature in ("danceability", "energy", "valence"):
        target = data.items[feature].to_numpy()
        residual = np.linalg.lstsq(design, target, rcond=None)[1][0]
        assert 1 - residual / (np.var(target) * len(target)) > 0.5, feature


def test_written_events_equal_the_loaded_ones_across_chunks(tmp_path):
    n_events = dummy.CHUNK_EVENTS + 1_234  # two chunks
    meta = catalog.write_dummy(tmp_path, n_users=100, n_tracks=300, n_events=n_events, seed=9, progress=False)
    loaded = catalog.load("dummy", n_users=100, n_tracks=300, n_events=n_events, seed=9)
    written = pq.read_table(tmp_path / "events.parquet")
    assert written.num_rows == n_events and pq.ParquetFile(tmp_path / "events.parquet").num_row_groups == 2
    events = written.to_pandas()
    events["event_type"] = events["event_type"].astype(str).astype(object)
    pd.testing.assert_frame_equal(events, loaded.interactions)
    tracks = pd.read_parquet(tmp_path / "tracks.parquet")
    pd.testing.assert_series_equal(tracks["energy"], loaded.items["energy"])
    assert json.loads((tmp_path / "meta.json").read_text()) == meta
    assert sum(meta[f"events_{k}"] for k in ("play", "skip", "like", "dislike")) == n_events
