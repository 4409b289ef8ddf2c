"""User features: activity (events, plays, skips, distinct tracks, recency), the mean audio profile
of what the user engaged with, and affinity to clusters and genres.

The profile is the engagement-weighted mean of the standardised audio features of the user's
tracks with audio. An affinity is the user's engagement with a cluster (genre) over their
engagement with all tracks that have a cluster (genre); the top `affinity_top_n` are kept, ranked
by share then by cluster id (genre name), and the first is on the user's row.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.tables import PROFILE_COLUMNS, Z_COLUMNS

MICROS_PER_DAY = 86_400 * 1_000_000


def engaged_tracks(pairs: DataFrame, tracks: DataFrame) -> DataFrame:
    """The pairs with engagement, with their track's audio, cluster and genre (read three times:
    worth caching)."""
    return pairs.where(F.col("engagement") > 0).select("user_id", "item_id", "engagement").join(
        tracks.select("item_id", "has_audio", "cluster", "genre", *Z_COLUMNS), "item_id"
    )


def user_features(pairs: DataFrame, engaged: DataFrame, as_of: datetime, top_n: int
                  ) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(user features, cluster affinity, genre affinity) from the pairs and `engaged_tracks`."""
    activity = pairs.groupBy("user_id").agg(
        F.sum("events").alias("event_count"),
        F.sum("plays").alias("play_count"),
        F.sum("skips").alias("skip_count"),
        F.count(F.lit(1)).alias("distinct_tracks"),
        F.sum("engagement").alias("engagement"),
        F.min("first_seen").alias("first_seen"),
        F.max("last_seen").alias("last_seen"),
    ).withColumn(
        "recency_days",
        (F.unix_micros(F.lit(as_of)) - F.unix_micros(F.col("last_seen"))) / MICROS_PER_DAY,
    )
    weight = F.col("engagement")
    profile = engaged.where(F.col("has_audio")).groupBy("user_id").agg(
        *((F.sum(weight * F.col(z)) / F.sum(weight)).alias(p) for z, p in zip(Z_COLUMNS, PROFILE_COLUMNS))
    )
    clusters = _affinity(engaged, "cluster", top_n)
    genres = _affinity(engaged, "genre", top_n)
    features = (
        activity.join(profile, "user_id", "left")
        .join(_top(clusters, "cluster"), "user_id", "left")
        .join(_top(genres, "genre"), "user_id", "left")
    )
    return features, clusters, genres


def _affinity(engaged: DataFrame, column: str, top_n: int) -> DataFrame:
    per_value = engaged.where(F.col(column).isNotNull()).groupBy("user_id", column).agg(
        F.sum("engagement").alias("_weight"))
    user = Window.partitionBy("user_id")
    ranked = user.orderBy(F.col("share").desc(), F.col(column).asc())
    return (
        per_value.withColumn("share", F.col("_weight") / F.sum("_weight").over(user))
        .withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= top_n)
        .select("user_id", column, "share", "rank")
    )


def _top(affinity: DataFrame, column: str) -> DataFrame:
    return affinity.where(F.col("rank") == 1).select(
        "user_id", F.col(column).alias(f"top_{column}"), F.col("share").alias(f"top_{column}_share"))
