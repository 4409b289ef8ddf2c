"""Item features: what a track is (genre, release year, standardised audio, cluster) and how it
is listened to (plays, skips, listeners, recent trend).

trend = ln((1 + plays_recent) / (1 + plays_previous)): 0 for a steady track, positive when it
rises, symmetric for rises and falls and defined for tracks with no plays.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.tables import Z_COLUMNS

COUNTS = ("play_count", "skip_count", "event_count", "listener_count", "plays_recent", "plays_previous")


def item_features(tracks: DataFrame, pairs: DataFrame) -> DataFrame:
    """One row per track of `tracks`; tracks nobody listened to have zero counts."""
    usage = pairs.groupBy("item_id").agg(
        F.sum("plays").alias("play_count"),
        F.sum("skips").alias("skip_count"),
        F.sum("events").alias("event_count"),
        F.count(F.lit(1)).alias("listener_count"),
        F.sum("plays_recent").alias("plays_recent"),
        F.sum("plays_previous").alias("plays_previous"),
    )
    described = tracks.select("item_id", "genre", "release_year", "popularity", "cluster", *Z_COLUMNS)
    return (
        described.join(usage, "item_id", "left")
        .fillna(0, subset=list(COUNTS))
        .withColumn("trend", F.log((1.0 + F.col("plays_recent")) / (1.0 + F.col("plays_previous"))))
    )
