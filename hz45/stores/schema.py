"""The main database's tables (SQLAlchemy Core), the same on SQLite and MariaDB.

Ids are the platform's int64 ids (see hz45.catalog.base); `tracks.track_id` is a catalog item's
`item_id`. Every table has a natural primary key so that loading the same rows twice changes
nothing (see hz45.stores.upsert).

No foreign keys: tables are bulk-loaded from catalogs and streamed events may name a track before
it is ingested; the data-quality checks of the feature jobs report orphans instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES
from hz45.stores.sql import get_engine

metadata = sa.MetaData()

# Microsecond timestamps on MariaDB (its DATETIME drops fractions by default). Stored as naive UTC.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Id = sa.BigInteger

artists = sa.Table(
    "artists",
    metadata,
    sa.Column("artist_id", Id, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Index("ix_artists_name", "name"),
)

tracks = sa.Table(
    "tracks",
    metadata,
    sa.Column("track_id", Id, primary_key=True, autoincrement=False),
    sa.Column("title", sa.String(512), nullable=False),
    sa.Column("artist_id", Id),
    sa.Column("spotify_id", sa.String(32)),
    sa.Column("genre", sa.String(128), nullable=False, server_default=""),
    # All genres of the item, "|"-separated (MovieLens items have several).
    sa.Column("genres", sa.String(1024), nullable=False, server_default=""),
    sa.Column("release_year", sa.Integer),
    sa.Column("popularity", sa.Float),
    *(sa.Column(name, sa.Float) for name in AUDIO_FEATURES),
    # True when the source has no audio features for the track (the columns above are NULL);
    # content-based models skip such tracks instead of reading NULLs as zeros.
    sa.Column("audio_features_missing", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_tracks_artist", "artist_id"),
    sa.Index("ix_tracks_genre", "genre"),
    sa.Index("ix_tracks_spotify_id", "spotify_id"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", Id, primary_key=True, autoincrement=False),
    # The source's own user fields (age, country, ...), which differ from dataset to dataset.
    sa.Column("attributes", sa.JSON),
)

interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("user_id", Id, primary_key=True, autoincrement=False),
    sa.Column("track_id", Id, primary_key=True, autoincrement=False),
    sa.Column("event_type", sa.String(16), primary_key=True),
    sa.Column("timestamp", Timestamp, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.CheckConstraint(f"event_type IN ({', '.join(repr(t) for t in EVENT_TYPES)})", name="ck_interactions_event_type"),
    # A user's history in time order (features, the serving path) and a track's (charts).
    sa.Index("ix_interactions_user_time", "user_id", "timestamp"),
    sa.Index("ix_interactions_track_time", "track_id", "timestamp"),
)

recommendations = sa.Table(
    "recommendations",
    metadata,
    sa.Column("user_id", Id, primary_key=True, autoincrement=False),
    sa.Column("model_name", sa.String(128), primary_key=True),
    sa.Column("model_version", sa.String(32), primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("track_id", Id, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_at", Timestamp, nullable=False),
    # The newest precomputed list of a user, whatever the model.
    sa.Index("ix_recommendations_user_created", "user_id", "created_at"),
)

# Which dataset the tables hold: ids of two datasets would collide, so a load refuses to mix them.
dataset_loads = sa.Table(
    "dataset_loads",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("row_limit", sa.BigInteger),
    sa.Column("loaded_at", Timestamp, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
)

MAIN_TABLES = (artists, tracks, users, interactions, recommendations)


def init_db(engine: Engine | None = None) -> list[str]:
    """Create the missing tables and indexes; existing ones are left as they are. Returns the
    names of the tables that were created."""
    engine = engine or get_engine()
    before = set(sa.inspect(engine).get_table_names())
    metadata.create_all(engine, checkfirst=True)
    return [t.name for t in metadata.sorted_tables if t.name not in before]
