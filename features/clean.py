"""Cleaning the input: types cast, impossible values dropped, duplicate events removed.

An event is dropped for the first rule it breaks, and the drops are counted per rule:
null_key (user, item, type or time missing), unknown_event_type, future_timestamp (at or after the
end of the run date, so a backfill sees what was known then), null_value, rating_out_of_range,
non_positive_value (a play count, skip, like or dislike of zero or less), unknown_item.
Events equal on (user, item, type, time) are one event; its value is the largest seen.

A track keeps its row, but a value outside its documented range (AUDIO_RANGES, a popularity
outside 0..100, a release year after the run) is unknown (null): a zero duration is no duration.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features.config import RatingOptions
from features.tables import AUDIO_RANGES
from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES

EVENT_KEY = ("user_id", "item_id", "event_type", "timestamp")
DUPLICATE = "duplicate"


def typed_events(raw: DataFrame) -> DataFrame:
    """The canonical event columns with their platform types; times given as integers are
    nanoseconds since the epoch (how Spark reads nanosecond Parquet times)."""
    stamp = F.col("timestamp")
    if isinstance(raw.schema["timestamp"].dataType, T.LongType):
        stamp = F.timestamp_micros(F.expr("timestamp div 1000"))
    return raw.select(
        F.col("user_id").cast("long").alias("user_id"),
        F.col("item_id").cast("long").alias("item_id"),
        F.lower(F.trim(F.col("event_type").cast("string"))).alias("event_type"),
        F.col("value").cast("double").alias("value"),
        stamp.cast("timestamp").alias("timestamp"),
    )


def reject_reason(events: DataFrame, known_items: DataFrame, as_of: datetime, ratings: RatingOptions) -> DataFrame:
    """`events` (typed) with `_reason`: the first rule the event breaks, null for a good event."""
    known = known_items.select("item_id", F.lit(True).alias("_known"))
    joined = events.join(F.broadcast(known), "item_id", "left")
    value, kind = F.col("value"), F.col("event_type")
    keys_missing = F.lit(False)
    for key in EVENT_KEY:
        keys_missing = keys_missing | F.col(key).isNull()
    reason = (
        F.when(keys_missing, "null_key")
        .when(~kind.isin(*EVENT_TYPES), "unknown_event_type")
        .when(F.col("timestamp") >= F.lit(as_of), "future_timestamp")
        .when(value.isNull() | F.isnan(value), "null_value")
        .when((kind == "rating") & ((value < ratings.min) | (value > ratings.max)), "rating_out_of_range")
        .when((kind != "rating") & (value <= 0), "non_positive_value")
        .when(F.col("_known").isNull(), "unknown_item")
    )
    return joined.withColumn("_reason", reason).drop("_known")


def clean_events(tagged: DataFrame) -> DataFrame:
    """The good events of `tagged` (see reject_reason), one row per event key."""
    return (
        tagged.where(F.col("_reason").isNull())
        .groupBy(*EVENT_KEY)
        .agg(F.max("value").alias("value"))
        .select("user_id", "item_id", "event_type", "value", "timestamp")
    )


def rejected_counts(tagged: DataFrame) -> dict[str, int]:
    rows = tagged.where(F.col("_reason").isNotNull()).groupBy("_reason").count().collect()
    return {r["_reason"]: int(r["count"]) for r in rows}


def clean_tracks(raw: DataFrame, as_of: datetime) -> DataFrame:
    """Tracks with typed columns, impossible values nulled and `has_audio` set; rows without an
    item id are dropped."""
    audio = [_within(F.col(name).cast("double"), *AUDIO_RANGES[name]).alias(name) for name in AUDIO_FEATURES]
    known_audio = F.lit(False)
    for name in AUDIO_FEATURES:
        known_audio = known_audio | F.col(name).isNotNull()
    return (
        raw.where(F.col("item_id").isNotNull())
        .select(
            F.col("item_id").cast("long").alias("item_id"),
            _text("title"),
            _text("artist_name"),
            _text("genre"),
            _within(F.col("release_year").cast("int"), 1800, as_of.year).alias("release_year"),
            _within(F.col("popularity").cast("double"), 0.0, 100.0).alias("popularity"),
            *audio,
        )
        .withColumn("has_audio", known_audio)
    )


def _within(col: Column, low: float, high: float) -> Column:
    """`col` where it is within [low, high], null otherwise (Spark orders NaN above every number,
    so NaN is outside too)."""
    return F.when(col.between(low, high), col)


def _text(name: str) -> Column:
    """Trimmed text; empty text is unknown."""
    value = F.trim(F.col(name).cast("string"))
    return F.when(value != "", value).alias(name)
