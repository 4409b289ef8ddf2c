"""Listener features computed in one pass over a whole event log with pandas.

Used to rebuild the online feature documents from the raw event log (for example after the
feature collection was lost) and, in the tests, as the independent reference the streaming job's
incremental results must match. Same definitions as `streaming.features`, except the
de-duplication: here an event id counts once however far apart its copies are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hz45.catalog.base import AUDIO_FEATURES
from streaming.features import HOUR_MS, FeatureParams
from streaming.schema import EVENT_TYPES, SCHEMA_VERSION

# Fields of a feature document that depend on when the job ran, not on the events.
RUN_FIELDS = ("updated_at",)


def with_audio(events: pd.DataFrame, tracks: pd.DataFrame) -> pd.DataFrame:
    """The events with their track's AUDIO_FEATURES columns (NaN for unknown tracks)."""
    audio = tracks.set_index("track_id")[list(AUDIO_FEATURES)].astype(float)
    return events.join(audio, on="track_id")


def features_from_events(events: pd.DataFrame, params: FeatureParams) -> dict[int, dict[str, Any]]:
    """Feature document per listener (without RUN_FIELDS) from events carrying audio columns;
    an event id seen twice counts once, as in the streaming job."""
    ordered = events.drop_duplicates("event_id").sort_values(["listener_id", "timestamp", "event_id"], kind="stable")
    plays = ordered[ordered["type"] == "play"]
    counts = ordered.groupby(["listener_id", "type"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(EVENT_TYPES), fill_value=0)
    newest = ordered.groupby("listener_id").tail(1).set_index("listener_id")
    recent = plays.groupby("listener_id").tail(params.last_n).groupby("listener_id")["track_id"].agg(list)
    known = plays.dropna(subset=list(AUDIO_FEATURES))
    profile_rows = known.groupby("listener_id").tail(params.profile_plays)
    profile = profile_rows.groupby("listener_id")[list(AUDIO_FEATURES)].mean()
    profile_n = profile_rows.groupby("listener_id").size()
    hourly = plays.assign(hour_start=plays["timestamp"] - plays["timestamp"] % HOUR_MS)
    hourly = hourly.groupby(["listener_id", "hour_start"]).size()

    docs: dict[int, dict[str, Any]] = {}
    for listener, row in counts.iterrows():
        last = newest.loc[listener]
        newest_hour = int(last["timestamp"]) - int(last["timestamp"]) % HOUR_MS
        oldest_kept = newest_hour - (params.hour_windows - 1) * HOUR_MS
        hours = hourly.loc[listener] if listener in hourly.index.get_level_values(0) else pd.Series(dtype=int)
        plays_n, skips_n = int(row["play"]), int(row["skip"])
        docs[int(listener)] = {
            "schema_version": SCHEMA_VERSION,
            "listener_id": int(listener),
            "last_event_time": int(last["timestamp"]),
            "last_event_id": str(last["event_id"]),
            "session_id": str(last["session_id"]),
            "events": int(row.sum()),
            "plays": plays_n,
            "skips": skips_n,
            "likes": int(row["like"]),
            "dislikes": int(row["dislike"]),
            "skip_rate": skips_n / (plays_n + skips_n) if plays_n + skips_n else None,
            "recent_tracks": [int(t) for t in reversed(recent.get(listener, []))],
            "plays_per_hour": [
                {"hour_start": int(h), "plays": int(n)} for h, n in hours.items() if h >= oldest_kept
            ],
            "audio_profile": (
                {f: float(profile.loc[listener, f]) for f in AUDIO_FEATURES} if listener in profile.index else None
            ),
            "profile_plays": int(profile_n.get(listener, 0)),
        }
    return docs


def same_features(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Names of the fields where a job's document differs from the reference (floats to 1e-9)."""
    diffs = []
    for key, value in want.items():
        other = got.get(key)
        if key == "audio_profile" and value is not None and other is not None:
            ok = set(value) == set(other) and all(np.isclose(other[f], value[f], rtol=1e-9) for f in value)
        elif isinstance(value, float) and isinstance(other, float):
            ok = bool(np.isclose(other, value, rtol=1e-9))
        else:
            ok = other == value
        if not ok:
            diffs.append(key)
    return diffs
