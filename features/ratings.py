"""The training set: one rating per (user, track) with the splits of the evaluation protocols.

Explicit: the user's latest rating of the track (the larger one on equal times), confidence 1.
Implicit (play counts): c = the user's plays of the track, and
- rating = 1 + 4 * q, q the per-user percentile of c among the user's own tracks (average rank of
  ties / number of tracks, as pandas' rank(pct=True)); ranks ignore monotone transforms, so this is
  also the percentile of log(1 + c). A heavy and a light listener's favourite both get 5, and
  the scale matches `training.feedback.as_ratings`;
- confidence = 1 + alpha * ln(1 + c / eps) (Hu, Koren and Volinsky, 2008).

Splits, fixed by the seed and independent of partitioning and row order (hash of the pair):
- fold: 0..folds-1, the pair's hash modulo folds (k-fold cross-validation);
- holdout: per user, pairs ordered by a second hash, a pair trains while rank / count <= the train
  fraction (75/25 stratified by user, as `training.splits.stratified_split`);
- leave_last_out: each user's latest pair (by time, then item id) is test unless it is the
  user's only one.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.config import RatingOptions, SplitOptions


def rating_source(events: DataFrame, options: RatingOptions) -> str:
    """explicit or implicit, as configured; auto: explicit when the data holds any rating."""
    if options.source != "auto":
        return options.source
    return "explicit" if events.where(F.col("event_type") == "rating").limit(1).count() else "implicit"


def source_events(events: DataFrame, source: str) -> DataFrame:
    return events.where(F.col("event_type") == ("rating" if source == "explicit" else "play"))


def ratings(events: DataFrame, pairs: DataFrame, source: str, options: RatingOptions, splits: SplitOptions,
            seed: int) -> DataFrame:
    """The training set from the clean events (explicit) or their per-pair totals (implicit)."""
    if source == "explicit":
        table = _explicit(source_events(events, source))
    else:
        table = _implicit(pairs, options)
    return _with_splits(table.withColumn("source", F.lit(source)), splits, seed)


def _explicit(events: DataFrame) -> DataFrame:
    latest = Window.partitionBy("user_id", "item_id").orderBy(F.col("timestamp").desc(), F.col("value").desc())
    return (
        events.withColumn("_n", F.row_number().over(latest))
        .where(F.col("_n") == 1)
        .select("user_id", "item_id", F.col("value").alias("rating"), F.lit(1.0).alias("confidence"),
                F.lit(0.0).alias("plays"), "timestamp")
    )


def _implicit(pairs: DataFrame, options: RatingOptions) -> DataFrame:
    played = pairs.where(F.col("plays") > 0).select("user_id", "item_id", "plays", F.col("last_played").alias("timestamp"))
    user = Window.partitionBy("user_id")
    # Average rank of ties = lowest rank + (ties - 1) / 2.
    lowest = F.rank().over(user.orderBy("plays"))
    ties = F.count(F.lit(1)).over(Window.partitionBy("user_id", "plays"))
    percentile = (lowest + (ties - 1) / 2.0) / F.count(F.lit(1)).over(user)
    confidence = 1.0 + options.confidence_alpha * F.log1p(F.col("plays") / options.confidence_eps)
    return played.select("user_id", "item_id", (1.0 + 4.0 * percentile).alias("rating"),
                        confidence.alias("confidence"), "plays", "timestamp")


def _with_splits(table: DataFrame, splits: SplitOptions, seed: int) -> DataFrame:
    user = Window.partitionBy("user_id")
    shuffled = user.orderBy(F.xxhash64("user_id", "item_id", F.lit(seed + 1)), "item_id")
    latest = user.orderBy(F.col("timestamp").desc(), F.col("item_id").desc())
    count = F.count(F.lit(1)).over(user)
    trains = F.row_number().over(shuffled) / count <= splits.train_fraction
    last = (F.row_number().over(latest) == 1) & (count > 1)
    return table.select(
        "*",
        F.pmod(F.xxhash64("user_id", "item_id", F.lit(seed)), F.lit(splits.folds)).cast("int").alias("fold"),
        F.when(trains, "train").otherwise("test").alias("holdout"),
        F.when(last, "test").otherwise("train").alias("leave_last_out"),
    )
