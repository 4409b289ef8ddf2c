"""The chart tables the dashboard reads: plays per track per hour over the last `chart_hours`
hours of the run date, and the top tracks per genre and per cluster.

Top tracks rank by play count, then by events (so datasets of ratings rank by how often a title
was rated), then by item id; tracks without events are not in a chart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def hourly_plays(events: DataFrame, as_of: datetime, hours: int) -> DataFrame:
    window = (F.col("timestamp") >= F.lit(as_of - timedelta(hours=hours))) & (F.col("timestamp") < F.lit(as_of))
    plays = F.when(F.col("event_type") == "play", F.col("value")).otherwise(0.0)
    return (
        events.where(window)
        .groupBy(F.date_trunc("hour", "timestamp").alias("hour"), "item_id")
        .agg(F.sum(plays).alias("plays"), F.count(F.lit(1)).alias("event_count"))
    )


def top_tracks(item_features: DataFrame, tracks: DataFrame, by: str, n: int) -> DataFrame:
    """The `n` top tracks of each value of `by` (genre or cluster)."""
    order = Window.partitionBy(by).orderBy(F.col("play_count").desc(), F.col("event_count").desc(), "item_id")
    return (
        item_features.where(F.col(by).isNotNull() & (F.col("event_count") > 0))
        .select(by, "item_id", "play_count", "event_count")
        .withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= n)
        .join(tracks.select("item_id", "title", "artist_name"), "item_id")
    )
