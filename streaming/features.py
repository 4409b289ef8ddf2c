"""Per-listener online features, kept in Spark's state store by the job's JVM operator
(`streaming/jvm/hz45/streaming/ListenerFeatures.java`, a transformWithState processor).

The operator groups checked records by listener and, for each event id not seen within
`streaming.dedupe_window`, updates the listener's state and passes the event on; records that
failed the check pass through untouched; each listener with new events gets one feature update.
Every list is ordered by (timestamp, event_id), so the result never depends on arrival order, and
nothing is dropped for arriving late: a late play counts by its own event time.

Feature update (JSON object, one per listener, keyed by listener id on the compacted topic and
stored with `_id` = listener id in MongoDB):
    schema_version   1
    listener_id      int
    updated_at       epoch ms of the micro-batch that wrote it (processing time)
    last_event_time  epoch ms of the newest event counted
    last_event_id    its event id
    session_id       the session of that event
    events           events counted (every type)
    plays, skips, likes, dislikes   counts per type
    skip_rate        skips / (plays + skips), null before the first play or skip
    recent_tracks    track ids of the last `last_n` plays, newest first
    plays_per_hour   [{"hour_start": epoch ms, "plays": int}, ...] oldest first: plays per one-hour
                     tumbling window of event time, for the newest event's hour and the
                     `hour_windows` - 1 hours before it (hours without plays are left out)
    audio_profile    {AUDIO_FEATURE: mean} over the last `profile_plays` plays whose track has all
                     audio features, null when there is none
    profile_plays    how many plays the profile averages
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame

from hz45.catalog.base import AUDIO_FEATURES
from streaming.config import interval_ms
from streaming.schema import SCHEMA_VERSION

HOUR_MS = 3_600_000
# The row kinds of the operator's output (its `kind` column).
EVENT, INVALID, FEATURES = "event", "invalid", "features"


@dataclass(frozen=True)
class FeatureParams:
    last_n: int
    profile_plays: int
    hour_windows: int
    dedupe_ms: int = 600_000

    @classmethod
    def from_config(cls, config) -> "FeatureParams":
        """From the `streaming:` section (streaming.config.StreamingConfig)."""
        return cls(config.last_n, config.profile_plays, config.hour_windows, interval_ms(config.dedupe_window))


def listener_features(records: DataFrame, tracks: pd.DataFrame, params: FeatureParams) -> DataFrame:
    """The operator over checked records (streaming.parse.checked), with the audio profile drawn
    from `tracks` (track_id and AUDIO_FEATURES; a track missing one, or not in the table, stays
    out of the profile), which the operator reads once. Output: `kind` (EVENT, INVALID or FEATURES),
    `document` (the feature update as JSON, on FEATURES rows) and the input's columns: all of
    them on INVALID rows, listener_id, event_id, type, timestamp and track_id on EVENT rows,
    listener_id on FEATURES rows (the others null)."""
    spark = records.sparkSession
    gateway = spark.sparkContext._gateway
    schema = ", ".join(["track_id long", *(f"`{name}` double" for name in AUDIO_FEATURES)])
    table = spark.createDataFrame(tracks[["track_id", *AUDIO_FEATURES]], schema)
    jdf = gateway.jvm.hz45.streaming.ListenerFeatures.apply(
        records._jdf, table._jdf, _strings(gateway, AUDIO_FEATURES), params.last_n,
        params.profile_plays, params.hour_windows, params.dedupe_ms, SCHEMA_VERSION,
    )
    return DataFrame(jdf, spark)


def _strings(gateway, values) -> object:
    array = gateway.new_array(gateway.jvm.java.lang.String, len(values))
    for i, value in enumerate(values):
        array[i] = value
    return array
