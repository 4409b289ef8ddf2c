"""`hz45 ingest spotify` into the real MariaDB (HZ45_PROFILE=services), twice: no duplicates."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import sqlalchemy as sa

from hz45.ingest.spotify import ingest_spotify
from hz45.settings import IngestSettings, load_settings
from hz45.stores import schema
from hz45.stores.sql import get_engine
from spotify_fake import KPOP

pytestmark = pytest.mark.integration



@pytest.fixture
def services_settings(spotify_settings):
    settings = load_settings(profile="services")
    return settings.model_copy(update={"ingest": IngestSettings(spotify=spotify_settings)})


@pytest.fixture
def scratch_db(services_settings):
    """A scratch database on the project's MariaDB (fails when the server is not running)."""
    server = get_engine(settings=services_settings)
    name = f"{services_settings.services.mariadb.database}_ingest_{os.getpid()}"
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    engine = get_engine(server.url.set(database=name), services_settings)
    try:
        yield engine
    finally:
        engine.dispose()
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))


def _table(engine, table) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(table).order_by(*table.primary_key.columns), conn)


def test_ingest_twice_into_mariadb(fake_spotify, services_settings, scratch_db):
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    first = ingest_spotify("k-pop", 5, settings=services_settings, engine=scratch_db, progress=False)
    tracks, artists = _table(scratch_db, schema.tracks), _table(scratch_db, schema.artists)
    again = ingest_spotify("k-pop", 5, settings=services_settings, engine=scratch_db, progress=False)

    assert scratch_db.dialect.name in ("mysql", "mariadb")
    assert (first.tracks, first.new_tracks, first.flagged, first.filled_by_id, first.filled_by_name) == (11, 11, 5, 5, 1)
    assert (again.new_tracks, again.new_artists) == (0, 0)
    assert len(tracks) == tracks["spotify_id"].nunique() == 11 and len(artists) == 5
    pd.testing.assert_frame_equal(_table(scratch_db, schema.tracks), tracks)
    pd.testing.assert_frame_equal(_table(scratch_db, schema.artists), artists)
    assert tracks["audio_features_missing"].astype(bool).sum() == 5
