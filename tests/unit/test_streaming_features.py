"""Listener features: folding micro-batches into state gives what one pandas pass over all the
events gives, whatever the batch boundaries and the order inside a batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hz45.catalog import load
from hz45.catalog.base import AUDIO_FEATURES
from streaming.backfill import features_from_events, same_features, with_audio
from streaming.features import HOUR_MS, FeatureParams, ListenerState
from streaming.replay import dataset_events

PARAMS = FeatureParams(last_n=5, profile_plays=4, hour_windows=3)


@pytest.fixture(scope="module")
def dummy():
    return load("dummy", n_users=30, n_tracks=120, n_events=3000, seed=7)


@pytest.fixture(scope="module")
def events(dummy):
    tracks = dummy.items.rename(columns={"item_id": "track_id"})
    # Some tracks without audio features: they must not enter the audio profile.
    tracks.loc[tracks["track_id"] % 5 == 0, "energy"] = np.nan
    frame = with_audio(dataset_events(dummy, session_gap_s=1800), tracks)
    # Squeeze the year of events into a few hours so the hourly windows have several plays each.
    frame["timestamp"] = frame["timestamp"].min() + (frame["timestamp"] - frame["timestamp"].min()) // 2000
    return frame


def stream(events: pd.DataFrame, seed: int) -> dict[int, dict]:
    """Documents after folding shuffled micro-batches of random sizes into per-listener state."""
    rng = np.random.default_rng(seed)
    states: dict[int, ListenerState] = {}
    cuts = np.sort(rng.choice(np.arange(1, len(events)), size=40, replace=False))
    for lo, hi in zip([0, *cuts], [*cuts, len(events)]):
        batch = events.iloc[lo:hi].sample(frac=1.0, random_state=int(rng.integers(1 << 30)))
        for listener, rows in batch.groupby("listener_id"):
            state = states.get(listener)
            # The state store keeps JSON between batches: go through it as the job does.
            state = ListenerState.from_json(state.to_json()) if state else ListenerState()
            state.apply(rows, PARAMS)
            states[listener] = state
    return {k: s.document(k, watermark_ms=None, now_ms=0) for k, s in states.items()}


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_features_match_one_pass_over_all_events(events, seed):
    want = features_from_events(events, PARAMS)
    # The log is rich enough to exercise every feature.
    assert sum(len(d["plays_per_hour"]) > 1 for d in want.values()) > 10
    assert sum(len(d["recent_tracks"]) == PARAMS.last_n for d in want.values()) > 10
    assert sum(0 < d["profile_plays"] for d in want.values()) > 10
    got = stream(events, seed)
    assert set(got) == set(want)
    for listener, doc in want.items():
        assert same_features(got[listener], doc) == [], listener


def test_feature_definitions_on_a_small_hand_made_log():
    base = 1_717_236_000_000
    audio = {f: 1.0 for f in AUDIO_FEATURES}
    rows = [
        ("a", 1, "play", base, {**audio, "energy": 0.2}),
        ("b", 2, "skip", base + 1000, audio),
        ("c", 3, "play", base + HOUR_MS, {**audio, "energy": 0.6}),
        ("d", 4, "play", base + 2 * HOUR_MS, {**audio, "energy": np.nan}),
        ("e", 5, "like", base + 2 * HOUR_MS + 1, audio),
    ]
    frame = pd.DataFrame(
        [{"event_id": e, "listener_id": 9, "track_id": t, "type": k, "timestamp": ts, "session_id": "9-1", **a}
         for e, t, k, ts, a in rows]
    )
    state = ListenerState()
    state.apply(frame, FeatureParams(last_n=2, profile_plays=5, hour_windows=2))
    doc = state.document(9, watermark_ms=None, now_ms=1)
    assert doc["recent_tracks"] == [4, 3]
    assert doc["plays"] == 3 and doc["skips"] == 1 and doc["likes"] == 1 and doc["events"] == 5
    assert doc["skip_rate"] == pytest.approx(0.25)
    # Hour windows: the newest event's hour and the one before; the first hour is dropped.
    hour0 = base - base % HOUR_MS
    assert doc["plays_per_hour"] == [{"hour_start": hour0 + HOUR_MS, "plays": 1},
                                     {"hour_start": hour0 + 2 * HOUR_MS, "plays": 1}]
    # Track 4 has no energy: the profile averages plays 1 and 3 only.
    assert doc["profile_plays"] == 2
    assert doc["audio_profile"]["energy"] == pytest.approx(0.4)
    assert doc["last_event_id"] == "e"


def test_events_older_than_the_watermark_are_counted_as_late_only():
    frame = pd.DataFrame([
        {"event_id": "old", "listener_id": 1, "track_id": 1, "type": "play", "timestamp": 1_000, "session_id": "s",
         **{f: 0.5 for f in AUDIO_FEATURES}},
        {"event_id": "new", "listener_id": 1, "track_id": 2, "type": "play", "timestamp": 9_000, "session_id": "s",
         **{f: 0.5 for f in AUDIO_FEATURES}},
    ])
    state = ListenerState()
    state.apply(frame, PARAMS, watermark_ms=5_000)
    doc = state.document(1, watermark_ms=5_000, now_ms=0)
    assert doc["recent_tracks"] == [2] and doc["plays"] == 1 and doc["late_events"] == 1
