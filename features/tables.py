"""Every table the feature jobs write: columns, types, allowed values and keys, in one place.

The same description gives the Spark schema a job must produce, the rules the quality checks
enforce, and the SQL table in the main DB, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

from features.config import FeaturesConfig
from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES

# The ranges the Spotify Web API documents for its audio features (loudness a little above 0 dB
# and a time signature of 1 do occur in real tables). A value outside is impossible and unknown.
AUDIO_RANGES: dict[str, tuple[float, float]] = {
    "danceability": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "key": (-1.0, 11.0),
    "loudness": (-60.0, 5.0),
    "mode": (0.0, 1.0),
    "speechiness": (0.0, 1.0),
    "acousticness": (0.0, 1.0),
    "instrumentalness": (0.0, 1.0),
    "liveness": (0.0, 1.0),
    "valence": (0.0, 1.0),
    "tempo": (1.0, 300.0),
    "duration_ms": (1.0, 86_400_000.0),
    "time_signature": (1.0, 7.0),
}
Z_COLUMNS = tuple(f"{name}_z" for name in AUDIO_FEATURES)
PROFILE_COLUMNS = tuple(f"profile_{name}" for name in AUDIO_FEATURES)
SPLIT_VALUES = ("train", "test")

LONG, INT, DOUBLE = T.LongType(), T.IntegerType(), T.DoubleType()
STRING, TIME, BOOL = T.StringType(), T.TimestampType(), T.BooleanType()


@dataclass(frozen=True)
class Column:
    name: str
    type: T.DataType
    nullable: bool = True
    lo: float | None = None
    hi: float | None = None
    values: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Also written to the main DB (the feature and chart tables the dashboard and serving read).
    sql: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def schema(self) -> T.StructType:
        return T.StructType([T.StructField(c.name, c.type, c.nullable) for c in self.columns])


def _z() -> tuple[Column, ...]:
    """The standardised audio features; null where a feature is unknown in the whole dataset."""
    return tuple(Column(name, DOUBLE) for name in Z_COLUMNS)


def tables(cfg: FeaturesConfig) -> dict[str, Table]:
    """The output tables, with the ranges that depend on the configuration filled in."""
    top_n, k_max = cfg.chart_top_n, cfg.clusters.k_max - 1
    chart_columns = (
        Column("rank", INT, False, 1, top_n),
        Column("item_id", LONG, False),
        Column("title", STRING),
        Column("artist_name", STRING),
        Column("play_count", DOUBLE, False, 0),
        Column("event_count", LONG, False, 1),
    )
    specs = [
        Table(
            "clean_events",
            (
                Column("user_id", LONG, False),
                Column("item_id", LONG, False),
                Column("event_type", STRING, False, values=EVENT_TYPES),
                Column("value", DOUBLE, False),
                Column("timestamp", TIME, False),
            ),
            key=("user_id", "item_id", "event_type", "timestamp"),
        ),
        Table(
            "tracks",
            (
                Column("item_id", LONG, False),
                Column("title", STRING),
                Column("artist_name", STRING),
                Column("genre", STRING),
                Column("release_year", INT, lo=1800, hi=2200),
                Column("popularity", DOUBLE, lo=0, hi=100),
                *(Column(name, DOUBLE, lo=lo, hi=hi) for name, (lo, hi) in AUDIO_RANGES.items()),
                Column("has_audio", BOOL, False),
                *_z(),
                Column("cluster", INT, lo=0, hi=k_max),
            ),
            key=("item_id",),
        ),
        Table(
            "cluster_centers",
            (
                Column("cluster", INT, False, 0, k_max),
                Column("k", INT, False, cfg.clusters.k_min, cfg.clusters.k_max),
                Column("silhouette", DOUBLE, False, -1, 1),
                Column("size", LONG, False, 0),
                *_z(),
            ),
            key=("cluster",),
            sql=True,
        ),
        Table(
            "item_features",
            (
                Column("item_id", LONG, False),
                Column("genre", STRING),
                Column("release_year", INT, lo=1800, hi=2200),
                Column("popularity", DOUBLE, lo=0, hi=100),
                Column("cluster", INT, lo=0, hi=k_max),
                *_z(),
                Column("play_count", DOUBLE, False, 0),
                Column("skip_count", LONG, False, 0),
                Column("event_count", LONG, False, 0),
                Column("listener_count", LONG, False, 0),
                Column("plays_recent", DOUBLE, False, 0),
                Column("plays_previous", DOUBLE, False, 0),
                Column("trend", DOUBLE, False),
            ),
            key=("item_id",),
            sql=True,
        ),
        Table(
            "user_features",
            (
                Column("user_id", LONG, False),
                Column("event_count", LONG, False, 1),
                Column("play_count", DOUBLE, False, 0),
                Column("skip_count", LONG, False, 0),
                Column("distinct_tracks", LONG, False, 1),
                Column("engagement", DOUBLE, False, 0),
                Column("first_seen", TIME, False),
                Column("last_seen", TIME, False),
                Column("recency_days", DOUBLE, False, 0),
                *(Column(name, DOUBLE) for name in PROFILE_COLUMNS),
                Column("top_cluster", INT, lo=0, hi=k_max),
                Column("top_cluster_share", DOUBLE, lo=0, hi=1),
                Column("top_genre", STRING),
                Column("top_genre_share", DOUBLE, lo=0, hi=1),
            ),
            key=("user_id",),
            sql=True,
        ),
        *(
            Table(
                f"user_{by.name}_affinity",
                (Column("user_id", LONG, False), by, Column("share", DOUBLE, False, 0, 1),
                 Column("rank", INT, False, 1, cfg.affinity_top_n)),
                key=("user_id", by.name),
            )
            for by in (Column("cluster", INT, False, 0, k_max), Column("genre", STRING, False))
        ),
        Table(
            "chart_hourly_plays",
            (
                Column("hour", TIME, False),
                Column("item_id", LONG, False),
                Column("plays", DOUBLE, False, 0),
                Column("event_count", LONG, False, 1),
            ),
            key=("hour", "item_id"),
            sql=True,
        ),
        Table("chart_top_genre", (Column("genre", STRING, False), *chart_columns), key=("genre", "rank"), sql=True),
        Table(
            "chart_top_cluster", (Column("cluster", INT, False, 0, k_max), *chart_columns),
            key=("cluster", "rank"), sql=True,
        ),
        Table(
            "ratings",
            (
                Column("user_id", LONG, False),
                Column("item_id", LONG, False),
                Column("rating", DOUBLE, False, cfg.ratings.min, cfg.ratings.max),
                Column("confidence", DOUBLE, False, 1),
                Column("plays", DOUBLE, False, 0),
                Column("timestamp", TIME, False),
                Column("source", STRING, False, values=("explicit", "implicit")),
                Column("fold", INT, False, 0, cfg.splits.folds - 1),
                Column("holdout", STRING, False, values=SPLIT_VALUES),
                Column("leave_last_out", STRING, False, values=SPLIT_VALUES),
            ),
            key=("user_id", "item_id"),
        ),
    ]
    return {t.name: t for t in specs}
