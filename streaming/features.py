"""Per-listener online features, updated incrementally from micro-batches of events.

The streaming job keeps one `ListenerState` per listener in Spark's state store and calls
`ListenerState.apply` with each micro-batch of that listener's events; `document` turns the
state into the feature update written to MongoDB and to the compacted feature topic.

Feature update (JSON object, one per listener, keyed by listener id on the topic):
    schema_version   1
    listener_id      int
    updated_at       epoch ms when the job wrote it (processing time)
    last_event_time  epoch ms of the newest event counted
    last_event_id    its event id
    session_id       the session of that event
    events           events counted (every type)
    plays, skips, likes, dislikes   counts per type
    skip_rate        skips / (plays + skips), null before the first play or skip
    recent_tracks    track ids of the last `last_n` plays, newest first
    plays_per_hour   [{"hour_start": epoch ms, "plays": int}, ...] oldest first: one-hour tumbling
                     windows of event time, the last `hour_windows` hours up to the newest event
    audio_profile    {AUDIO_FEATURE: mean} over the last `profile_plays` plays whose track has all
                     audio features, null when there is none
    profile_plays    how many plays the profile averages
    late_events      events dropped because they were older than the watermark
    watermark        the event-time watermark (epoch ms) when the update was made

Ordering is by (timestamp, event_id) everywhere, so the result does not depend on how events
were split into micro-batches.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hz45.catalog.base import AUDIO_FEATURES
from streaming.schema import SCHEMA_VERSION

HOUR_MS = 3_600_000
# Columns of the events handed to `apply`: the schema's fields the features use, plus the
# track's audio features (NaN where the track has none).
EVENT_COLUMNS = ("event_id", "track_id", "type", "timestamp", "session_id")


@dataclass(frozen=True)
class FeatureParams:
    last_n: int
    profile_plays: int
    hour_windows: int


@dataclass
class ListenerState:
    counts: dict[str, int] = field(default_factory=lambda: {"play": 0, "skip": 0, "like": 0, "dislike": 0})
    last: list[Any] | None = None  # [timestamp, event_id, session_id] of the newest event
    # [timestamp, event_id, track_id] of the last plays, oldest first
    recent: list[list[Any]] = field(default_factory=list)
    # [timestamp, event_id, [audio features]] of the last plays with known features
    profile: list[list[Any]] = field(default_factory=list)
    hours: dict[int, int] = field(default_factory=dict)  # hour start (epoch ms) -> plays
    late: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ListenerState:
        raw = json.loads(text)
        raw["hours"] = {int(k): v for k, v in raw["hours"].items()}
        return cls(**raw)

    def apply(self, events: pd.DataFrame, params: FeatureParams, watermark_ms: int | None = None) -> None:
        """Fold a batch of this listener's events (any order) into the state."""
        if watermark_ms is not None:
            on_time = events["timestamp"].to_numpy() >= watermark_ms
            self.late += int((~on_time).sum())
            events = events[on_time]
        if events.empty:
            return
        events = events.sort_values(["timestamp", "event_id"], kind="stable")
        types = events["type"].to_numpy()
        for kind, n in zip(*np.unique(types, return_counts=True)):
            self.counts[kind] += int(n)
        newest = events.iloc[-1]
        candidate = [int(newest["timestamp"]), str(newest["event_id"]), str(newest["session_id"])]
        if self.last is None or candidate[:2] > self.last[:2]:
            self.last = candidate

        plays = events[types == "play"]
        stamps = plays["timestamp"].to_numpy(dtype=np.int64)
        ids = plays["event_id"].astype(str).tolist()
        self.recent = _newest(
            self.recent + [[int(t), e, int(k)] for t, e, k in zip(stamps, ids, plays["track_id"])], params.last_n
        )
        audio = plays[list(AUDIO_FEATURES)].to_numpy(dtype=float)
        known = ~np.isnan(audio).any(axis=1)
        self.profile = _newest(
            self.profile
            + [[int(t), e, a.tolist()] for t, e, a, ok in zip(stamps, ids, audio, known) if ok],
            params.profile_plays,
        )
        for hour, n in zip(*np.unique(stamps - stamps % HOUR_MS, return_counts=True)):
            self.hours[int(hour)] = self.hours.get(int(hour), 0) + int(n)
        newest_hour = self.last[0] - self.last[0] % HOUR_MS
        oldest_kept = newest_hour - (params.hour_windows - 1) * HOUR_MS
        self.hours = {h: n for h, n in self.hours.items() if h >= oldest_kept}

    def document(self, listener_id: int, watermark_ms: int | None, now_ms: int) -> dict[str, Any]:
        plays, skips = self.counts["play"], self.counts["skip"]
        profile = None
        if self.profile:
            means = np.mean([p[2] for p in self.profile], axis=0)
            profile = {name: float(v) for name, v in zip(AUDIO_FEATURES, means)}
        return {
            "schema_version": SCHEMA_VERSION,
            "listener_id": int(listener_id),
            "updated_at": int(now_ms),
            "last_event_time": self.last[0] if self.last else None,
            "last_event_id": self.last[1] if self.last else None,
            "session_id": self.last[2] if self.last else None,
            "events": sum(self.counts.values()),
            "plays": plays,
            "skips": skips,
            "likes": self.counts["like"],
            "dislikes": self.counts["dislike"],
            "skip_rate": skips / (plays + skips) if plays + skips else None,
            "recent_tracks": [r[2] for r in reversed(self.recent)],
            "plays_per_hour": [{"hour_start": h, "plays": n} for h, n in sorted(self.hours.items())],
            "audio_profile": profile,
            "profile_plays": len(self.profile),
            "late_events": self.late,
            "watermark": watermark_ms,
        }


def _newest(items: list[list[Any]], n: int) -> list[list[Any]]:
    """The n newest of [timestamp, event_id, ...] items, oldest first."""
    return sorted(items, key=lambda it: (it[0], it[1]))[-n:]
