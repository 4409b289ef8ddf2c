"""Per (user, track) totals of the clean events: the one aggregate item features, user features
and the implicit training set are all built from.

Engagement is how much a listener wanted a track: the play count of its plays, plus one per like
and per rating (a rated movie was watched); skips and dislikes are not engagement.
Recent plays fall in the last `trend_days` days before the end of the run date, previous plays in
the `trend_days` days before those.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ONE_EACH = ("like", "rating")


def engagement() -> Column:
    kind = F.col("event_type")
    return F.when(kind == "play", F.col("value")).when(kind.isin(*ONE_EACH), 1.0).otherwise(0.0)


def pair_totals(events: DataFrame, as_of: datetime, trend_days: int) -> DataFrame:
    """One row per (user_id, item_id) with plays, plays_recent, plays_previous, skips, events,
    engagement, first_seen, last_seen and last_played (null without plays)."""
    recent_from = as_of - timedelta(days=trend_days)
    previous_from = recent_from - timedelta(days=trend_days)
    plays = F.when(F.col("event_type") == "play", F.col("value")).otherwise(0.0)
    stamp = F.col("timestamp")
    return events.groupBy("user_id", "item_id").agg(
        F.sum(plays).alias("plays"),
        F.sum(F.when(stamp >= F.lit(recent_from), plays).otherwise(0.0)).alias("plays_recent"),
        F.sum(F.when((stamp >= F.lit(previous_from)) & (stamp < F.lit(recent_from)), plays).otherwise(0.0))
        .alias("plays_previous"),
        F.sum((F.col("event_type") == "skip").cast("long")).alias("skips"),
        F.count(F.lit(1)).alias("events"),
        F.sum(engagement()).alias("engagement"),
        F.min(stamp).alias("first_seen"),
        F.max(stamp).alias("last_seen"),
        F.max(F.when(F.col("event_type") == "play", stamp)).alias("last_played"),
    )
