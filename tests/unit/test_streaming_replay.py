"""Dataset interactions -> events, and the record stream the replay sends."""

from __future__ import annotations

import pandas as pd
import pytest

from hz45.catalog.base import Dataset
from streaming.replay import DEFAULT_DURATION_MS, dataset_events, records
from streaming.schema import InvalidEvent, validate_event


def ratings_dataset() -> Dataset:
    t0 = pd.Timestamp("1998-03-01 10:00", tz="UTC")
    inter = pd.DataFrame({
        "user_id": [1, 1, 1, 2, 1, 2],
        "item_id": [10, 11, 12, 10, 13, 14],
        "event_type": "rating",
        "value": [5.0, 4.0, 2.0, 1.0, 3.0, 5.0],
        # User 1 is silent for two hours before item 13: a new session.
        "timestamp": [t0, t0 + pd.Timedelta("1min"), t0 + pd.Timedelta("2min"), t0,
                      t0 + pd.Timedelta("2h"), t0 + pd.Timedelta("3min")],
    })
    items = pd.DataFrame({"item_id": [10, 11, 12, 13, 14], "duration_ms": [100_000.0, None, 200_000.0, 300_000.0, 1.0]})
    return Dataset("ml-test", inter, items, pd.DataFrame({"user_id": [1, 2]}))


def test_ratings_map_to_event_types_time_played_and_sessions():
    events = dataset_events(ratings_dataset(), session_gap_s=1800)
    assert events["timestamp"].is_monotonic_increasing
    kinds = dict(zip(zip(events["listener_id"], events["track_id"]), events["type"]))
    assert kinds == {(1, 10): "like", (1, 11): "play", (1, 12): "skip", (2, 10): "dislike", (1, 13): "play",
                     (2, 14): "like"}
    user1 = events[events["listener_id"] == 1].set_index("track_id")
    assert user1.loc[10, "type"] == "like" and user1.loc[10, "ms_played"] == 0
    assert user1.loc[11, "ms_played"] == DEFAULT_DURATION_MS  # no duration known
    assert user1.loc[12, "ms_played"] == 20_000  # a skip: a tenth of the track
    assert user1.loc[13, "ms_played"] == 300_000
    assert list(user1["session_id"]) == ["1-1", "1-1", "1-1", "1-2"]
    assert events["event_id"].is_unique and events["event_id"].str.startswith("ml-test-").all()
    for row in events.to_dict("records"):
        validate_event({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})


def test_ratings_outside_the_scale_are_refused():
    data = ratings_dataset()
    data.interactions.loc[0, "value"] = 7.0
    with pytest.raises(ValueError, match="outside 1..5"):
        dataset_events(data, session_gap_s=1800)


def test_records_are_valid_except_the_injected_share():
    events = pd.concat([dataset_events(ratings_dataset(), 1800)] * 200, ignore_index=True)
    events["event_id"] = [f"e-{i}" for i in range(len(events))]
    out = list(records(events, clock="original", malformed_share=0.1, seed=3))
    good = [r for r in out if r.event is not None]
    bad = [r for r in out if r.event is None]
    assert [r.event.event_id for r in good] == list(events["event_id"])
    assert 0.07 < len(bad) / len(out) < 0.13
    assert len({r.malformed_kind for r in bad}) > 5
    for r in bad:
        with pytest.raises(InvalidEvent):
            validate_event(r.value)
    again = list(records(events, clock="original", malformed_share=0.1, seed=3))
    assert [r.value for r in again] == [r.value for r in out]


def test_live_clock_stamps_events_when_they_are_sent():
    ticks = iter(range(5_000, 10_000))
    out = list(records(dataset_events(ratings_dataset(), 1800), clock="live", now_ms=lambda: next(ticks)))
    assert [r.event.timestamp for r in out] == list(range(5_000, 5_000 + len(out)))
