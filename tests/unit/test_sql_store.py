"""The main DB layer on an embedded SQLite file: schema, idempotent upsert, dataset loads."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from hz45.catalog import load
from hz45.catalog.base import AUDIO_FEATURES
from hz45.errors import Hz45Error
from hz45.settings import ROOT, load_settings
from hz45.stores import schema
from hz45.stores.load import load_dataset
from hz45.stores.sql import get_engine, resolve_url
from hz45.stores.upsert import upsert


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path / 'main.db'}")


@pytest.fixture(scope="module")
def small_dummy():
    return load("dummy", n_users=30, n_tracks=80, n_events=600, seed=7)


def rows(engine, table, order_by=None):
    with engine.connect() as conn:
        stmt = sa.select(table)
        if order_by is not None:
            stmt = stmt.order_by(*order_by)
        return [dict(r._mapping) for r in conn.execute(stmt)]


def test_init_db_creates_every_table_and_index_once(engine):
    created = schema.init_db(engine)
    assert set(created) == {"artists", "tracks", "users", "interactions", "recommendations", "dataset_loads"}
    assert schema.init_db(engine) == []
    inspector = sa.inspect(engine)
    indexes = {ix["name"]: ix["column_names"] for t in inspector.get_table_names() for ix in inspector.get_indexes(t)}
    assert indexes["ix_interactions_user_time"] == ["user_id", "timestamp"]
    assert indexes["ix_interactions_track_time"] == ["track_id", "timestamp"]
    assert indexes["ix_recommendations_user_created"] == ["user_id", "created_at"]
    assert {"ix_tracks_artist", "ix_tracks_genre", "ix_tracks_spotify_id"} <= set(indexes)
    track_columns = {c["name"] for c in inspector.get_columns("tracks")}
    assert set(AUDIO_FEATURES) | {"audio_features_missing", "spotify_id", "release_year"} <= track_columns


def test_relative_sqlite_paths_are_taken_from_the_repository_root():
    settings = load_settings(environ={})
    url = resolve_url("sqlite:///data/unit-resolve/main.db", settings)
    try:
        assert url.database == str(ROOT / "data" / "unit-resolve" / "main.db")
        assert (ROOT / "data" / "unit-resolve").is_dir()
    finally:
        (ROOT / "data" / "unit-resolve").rmdir()
    assert resolve_url("sqlite://", settings).database in (None, "")


def interactions_frame():
    return pd.DataFrame({
        "user_id": [1, 1, 2],
        "track_id": [10, 11, 10],
        "event_type": ["play", "skip", "rating"],
        "value": [1.0, 1.0, 4.0],
        # +02:00 on purpose: stored as naive UTC.
        "timestamp": pd.to_datetime(["2024-03-01 12:00:00.250", "2024-03-01 12:05:00.000", "2024-03-02 08:00:00.000"])
        .tz_localize("Europe/Berlin"),
    })


def test_upsert_twice_adds_no_rows_and_updates_values(engine):
    schema.init_db(engine)
    frame = interactions_frame()
    assert upsert(schema.interactions, frame, engine) == 3
    assert upsert(schema.interactions, frame, engine) == 3
    assert len(rows(engine, schema.interactions)) == 3
    changed = frame.assign(value=[2.0, 1.0, 5.0])
    upsert(schema.interactions, changed, engine, chunk_rows=2)
    got = rows(engine, schema.interactions, order_by=[schema.interactions.c.user_id, schema.interactions.c.track_id])
    assert [r["value"] for r in got] == [2.0, 1.0, 5.0]
    assert got[0]["timestamp"] == datetime(2024, 3, 1, 11, 0, 0, 250000)


def test_upsert_stores_missing_values_as_null(engine):
    schema.init_db(engine)
    tracks = pd.DataFrame({
        "track_id": [1, 2],
        "title": ["a", "b"],
        "artist_id": pd.array([5, None], dtype="Int64"),
        "release_year": pd.array([None, 1999], dtype="Int64"),
        "energy": [0.5, math.nan],
        "audio_features_missing": [False, True],
    })
    upsert(schema.tracks, tracks, engine)
    got = rows(engine, schema.tracks, order_by=[schema.tracks.c.track_id])
    assert (got[0]["artist_id"], got[1]["artist_id"]) == (5, None)
    assert (got[0]["release_year"], got[1]["release_year"]) == (None, 1999)
    assert (got[0]["energy"], got[1]["energy"]) == (0.5, None)
    assert [r["audio_features_missing"] for r in got] == [False, True]
    assert got[0]["genre"] == ""


def test_upsert_rejects_unknown_columns_and_a_missing_key(engine):
    schema.init_db(engine)
    with pytest.raises(Hz45Error, match="unknown column.*colour"):
        upsert(schema.artists, pd.DataFrame({"artist_id": [1], "name": ["x"], "colour": ["red"]}), engine)
    with pytest.raises(Hz45Error, match="key column.*artist_id"):
        upsert(schema.artists, pd.DataFrame({"name": ["x"]}), engine)


def test_the_schema_rejects_an_unknown_event_type(engine):
    schema.init_db(engine)
    bad = interactions_frame().assign(event_type=["play", "shuffle", "like"])
    with pytest.raises(sa.exc.IntegrityError):
        upsert(schema.interactions, bad, engine)


def test_loading_a_dataset_twice_adds_no_duplicates(engine, small_dummy):
    first = load_dataset(small_dummy, engine, progress=False)
    assert first.counts["interactions"] == len(small_dummy.interactions.drop_duplicates(
        ["user_id", "item_id", "event_type", "timestamp"]))
    assert first.counts["tracks"] == len(small_dummy.items)
    assert first.counts["artists"] == len(small_dummy.artists)
    second = load_dataset(small_dummy, engine, progress=False)
    assert second.counts == first.counts
    tracks = pd.DataFrame(rows(engine, schema.tracks))
    assert not tracks["audio_features_missing"].any()
    assert tracks["genres"].str.len().gt(0).all()


def test_a_limited_load_keeps_what_the_kept_interactions_reference(engine, small_dummy):
    summary = load_dataset(small_dummy, engine, limit=50, progress=False)
    inter = pd.DataFrame(rows(engine, schema.interactions))
    assert len(inter) == summary.counts["interactions"] <= 50
    expected_first = small_dummy.interactions["timestamp"].min().tz_convert(None)
    assert inter["timestamp"].min() == expected_first.floor("us")
    track_ids = {r["track_id"] for r in rows(engine, schema.tracks)}
    assert track_ids == set(inter["track_id"])
    user_ids = {r["user_id"] for r in rows(engine, schema.users)}
    assert user_ids == set(inter["user_id"])


def test_a_second_dataset_is_refused_unless_replacing(engine, small_dummy):
    load_dataset(small_dummy, engine, progress=False)
    other = load("dummy", n_users=5, n_tracks=10, n_events=20, seed=8)
    other.name = "other"
    with pytest.raises(Hz45Error, match="already holds dataset 'dummy'.*--replace"):
        load_dataset(other, engine, progress=False)
    summary = load_dataset(other, engine, replace=True, progress=False)
    assert summary.counts["tracks"] == 10
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.dataset_loads.c.dataset)).scalars().all() == ["other"]


def test_a_dataset_with_an_unknown_event_type_names_it(engine, small_dummy):
    bad = load("dummy", n_users=5, n_tracks=10, n_events=20, seed=8)
    bad.interactions.loc[0, "event_type"] = "shuffle"
    with pytest.raises(Hz45Error, match="unknown event_type 'shuffle'"):
        load_dataset(bad, engine, progress=False)
