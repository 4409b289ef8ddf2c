"""Per-listener online features as one Spark aggregation, kept by Spark's state store.

Everything runs in the JVM (a Python function per listener costs milliseconds per group in
PySpark, which does not keep up with thousands of listeners a second): the aggregation keeps, per
listener, the counts per type, the newest event, and bounded "top-k by time" buffers (`max_by`
with k) for the recent tracks, the audio profile and the hourly plays. In a streaming query it is
preceded by an event-time watermark and de-duplication by event id within it, so a record sent
twice counts once and state for the de-duplication is dropped as the watermark passes.

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
    plays_per_hour   [{"hour_start": epoch ms, "plays": int}, ...] oldest first: one-hour tumbling
                     windows of event time, the last `hour_windows` hours up to the newest event,
                     counted over the listener's newest `hour_window_plays` plays
    audio_profile    {AUDIO_FEATURE: mean} over the last `profile_plays` plays whose track has all
                     audio features, null when there is none
    profile_plays    how many plays the profile averages
"Last" and "newest" order by (timestamp, event_id), so ties never depend on arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from hz45.catalog.base import AUDIO_FEATURES
from streaming.schema import SCHEMA_VERSION

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class FeatureParams:
    last_n: int
    profile_plays: int
    hour_windows: int
    hour_window_plays: int

    @classmethod
    def from_config(cls, config) -> "FeatureParams":
        """From the `streaming:` section (streaming.config.StreamingConfig)."""
        return cls(config.last_n, config.profile_plays, config.hour_windows, config.hour_window_plays)


def _order(condition: Column | None = None) -> Column:
    """The time order of events; null (ignored by max_by) where `condition` is false."""
    order = F.struct("timestamp", "event_id")
    return order if condition is None else F.when(condition, order)


def listener_features(events: DataFrame, params: FeatureParams) -> DataFrame:
    """(listener_id, document) per listener: `events` carry the schema's fields and the track's
    AUDIO_FEATURES (null where unknown); `document` is the feature update as JSON."""
    is_play = F.col("type") == "play"
    audio = F.array(*(F.col(f).cast("double") for f in AUDIO_FEATURES))
    audio_known = is_play & F.aggregate(audio, F.lit(True), lambda acc, x: acc & x.isNotNull())
    hour = F.col("timestamp") - F.col("timestamp") % HOUR_MS
    state = events.groupBy("listener_id").agg(
        F.count(F.lit(1)).alias("events"),
        *(F.count_if(F.col("type") == kind).alias(f"{kind}s") for kind in ("play", "skip", "like", "dislike")),
        F.max_by(F.struct("timestamp", "event_id", "session_id"), _order()).alias("last"),
        F.max_by("track_id", _order(is_play), params.last_n).alias("recent_tracks"),
        F.max_by(audio, _order(audio_known), params.profile_plays).alias("profile"),
        F.max_by(hour, _order(is_play), params.hour_window_plays).alias("play_hours"),
    )
    return state.select("listener_id", F.to_json(_document(params), {"ignoreNullFields": "false"}).alias("document"))


def _add_item(i: int):
    """acc + vector[i], as a two-argument function (Spark counts a lambda's parameters)."""
    return lambda acc, vector: acc + vector[i]


def _document(params: FeatureParams) -> Column:
    plays, skips = F.col("plays"), F.col("skips")
    newest_hour = F.col("last.timestamp") - F.col("last.timestamp") % HOUR_MS
    oldest_kept = newest_hour - (params.hour_windows - 1) * HOUR_MS
    play_hours = F.coalesce(F.col("play_hours"), F.array().cast("array<bigint>"))
    kept = F.array_sort(F.array_distinct(F.filter(play_hours, lambda h: h >= oldest_kept)))
    hourly = F.transform(kept, lambda h: F.struct(
        h.alias("hour_start"), F.size(F.filter(play_hours, lambda x: x == h)).cast("long").alias("plays")
    ))
    profile = F.coalesce(F.col("profile"), F.array().cast("array<array<double>>"))
    n = F.size(profile)
    means = [(F.aggregate(profile, F.lit(0.0), _add_item(i)) / n).alias(name) for i, name in enumerate(AUDIO_FEATURES)]
    return F.struct(
        F.lit(SCHEMA_VERSION).alias("schema_version"),
        F.col("listener_id"),
        (F.unix_micros(F.current_timestamp()) / 1000).cast("long").alias("updated_at"),
        F.col("last.timestamp").alias("last_event_time"),
        F.col("last.event_id").alias("last_event_id"),
        F.col("last.session_id").alias("session_id"),
        F.col("events"),
        plays.alias("plays"),
        skips.alias("skips"),
        F.col("likes"),
        F.col("dislikes"),
        F.when(plays + skips > 0, skips / (plays + skips)).alias("skip_rate"),
        F.coalesce(F.col("recent_tracks"), F.array().cast("array<bigint>")).alias("recent_tracks"),
        hourly.alias("plays_per_hour"),
        F.when(n > 0, F.struct(*means)).alias("audio_profile"),
        n.cast("long").alias("profile_plays"),
    )
