"""The main DB on the project's MariaDB: schema, SQL round trip, idempotent upsert and load.

Each test module works in its own scratch database (<db>_it_<pid>), dropped at the end, so the
product's database is never touched.
"""

from __future__ import annotations

import os
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from hz45.catalog import load
from hz45.stores import schema
from hz45.stores.load import load_dataset
from hz45.stores.sql import get_engine
from hz45.stores.upsert import upsert


@pytest.fixture(scope="module")
def engine(services_settings):
    url = sa.engine.make_url(services_settings.sql.url)
    scratch = f"{url.database}_it_{os.getpid()}"
    admin = get_engine(url, services_settings)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{scratch}`"))
    engine = get_engine(url.set(database=scratch), services_settings)
    assert engine.dialect.name in ("mysql", "mariadb") and engine.dialect.is_mariadb
    schema.init_db(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE `{scratch}`"))


def test_sql_round_trip(engine):
    frame = pd.DataFrame(
        {
            "user_id": [7, 7, 8],
            "track_id": [100, 101, 100],
            "event_type": ["play", "like", "rating"],
            "value": [1.0, 1.0, 4.5],
            "timestamp": pd.to_datetime(
                ["2024-05-01 10:00:00.123456", "2024-05-01 10:03:00", "2024-05-02 00:00:00"], format="ISO8601", utc=True
            ),
        }
    )
    assert upsert(schema.interactions, frame, engine) == 3
    ix = schema.interactions.c
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(ix.track_id, ix.event_type, ix.timestamp).where(ix.user_id == 7).order_by(ix.timestamp)
        ).all()
    assert [tuple(r) for r in got] == [
        (100, "play", datetime(2024, 5, 1, 10, 0, 0, 123456)),
        (101, "like", datetime(2024, 5, 1, 10, 3, 0)),
    ]
    # The same rows again, one value changed: no duplicate, the value follows.
    upsert(schema.interactions, frame.assign(value=[1.0, 1.0, 3.0]), engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.interactions)).scalar_one() == 3
        assert conn.execute(sa.select(ix.value).where(ix.user_id == 8)).scalar_one() == 3.0


def test_indexes_serve_the_product_lookups(engine):
    inspector = sa.inspect(engine)
    names = {ix["name"] for t in ("interactions", "tracks", "recommendations") for ix in inspector.get_indexes(t)}
    assert {
        "ix_interactions_user_time",
        "ix_interactions_track_time",
        "ix_tracks_artist",
        "ix_tracks_genre",
        "ix_tracks_spotify_id",
        "ix_recommendations_user_created",
    } <= names
    with engine.connect() as conn:
        plan = (
            conn.execute(sa.text("EXPLAIN SELECT * FROM interactions WHERE user_id = 7 ORDER BY timestamp"))
            .mappings()
            .all()
        )
    assert plan[0]["key"] in ("ix_interactions_user_time", "PRIMARY")


def test_the_server_rejects_an_unknown_event_type(engine):
    bad = pd.DataFrame(
        {
            "user_id": [1],
            "track_id": [1],
            "event_type": ["shuffle"],
            "value": [1.0],
            "timestamp": [pd.Timestamp("2024-01-01", tz="UTC")],
        }
    )
    # MariaDB reports a failed CHECK as error 4025, which pymysql maps to OperationalError.
    with pytest.raises(sa.exc.DBAPIError, match="ck_interactions_event_type"):
        upsert(schema.interactions, bad, engine)


def test_a_dataset_load_is_idempotent_on_mariadb(engine):
    dataset = load("dummy", n_users=40, n_tracks=120, n_events=1500, seed=3)
    first = load_dataset(dataset, engine, replace=True, progress=False)
    assert first.counts["tracks"] == 120 and first.counts["users"] == 40
    assert first.counts["interactions"] > 1000
    second = load_dataset(dataset, engine, progress=False)
    assert second.counts == first.counts
    with engine.connect() as conn:
        names = conn.execute(sa.select(schema.artists.c.name)).scalars().all()
    assert len(names) == len(set(names)) == len(dataset.artists)
