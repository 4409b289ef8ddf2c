"""`hz45 ingest spotify` end to end on SQLite, against the recorded Spotify Web API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hz45.catalog import AUDIO_FEATURES, load
from hz45.errors import ConfigError
from hz45.ingest.audio_fill import FILLED
from hz45.ingest.cli import app
from hz45.ingest.spotify import ingest_spotify
from hz45.ingest.spotify_ids import INGEST_ID_BASE
from hz45.settings import IngestSettings, get_settings
from hz45.stores import schema
from hz45.stores.sql import get_engine
from hz45.stores.upsert import upsert
from spotify_fake import KPOP, KPOP_ARTIST_PAGES, load_recorded

# Tracks of the recorded top tracks, by how their audio features are found in the real tables.
BY_ID = {"2VdSktBqFfkW7y6q5Ik4Z4", "5eWcGfUCrVFMoYskyfkEPE", "38tXZcL1gZRfbqfOG0VMTH", "1njlnn8ZKHI77Pe9szIONR",
         "18PergoIrGmRyeYxnaXJN2"}
BY_NAME = {"2bgIh0Y3hFW8cIHVaQFKno": "5SE57ljOIUJ1ybL9U6CuBH"}  # BTS "DNA", another release
FLAGGED = {"1V1G3oYYr1ULXq5LFzf9cX", "3r8RuvgbX9s7ammBn07D3W", "4pNApnaUWAL2J4KO2eqokq", "0t1kP63rueHleOhQkYSXFY",
           "4SFknyjLcyTLJFPKD2m96o"}


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path / 'main.db'}")


@pytest.fixture
def settings(spotify_settings):
    return get_settings().model_copy(update={"ingest": IngestSettings(spotify=spotify_settings)})


@pytest.fixture(scope="module")
def catalog_items():
    return load("spotify-tracks").items.set_index("spotify_id")


def _tracks(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(schema.tracks).order_by(schema.tracks.c.track_id), conn)


def _artists(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(schema.artists).order_by(schema.artists.c.artist_id), conn)


def test_recorded_tracks_are_what_the_cases_need(catalog_items):
    assert BY_ID <= set(catalog_items.index)
    assert not (set(BY_NAME) | FLAGGED) & set(catalog_items.index)
    assert set(BY_NAME.values()) <= set(catalog_items.index)


def test_closed_audio_features_are_filled_from_the_real_tables_or_flagged(fake_spotify, settings, engine,
                                                                          catalog_items):
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    report = ingest_spotify("k-pop", 5, settings=settings, engine=engine, progress=False)

    assert (report.artists, report.tracks, report.new_artists, report.new_tracks) == (5, 11, 5, 11)
    assert (report.features_from_api, report.filled_by_id, report.filled_by_name, report.flagged) == (0, 5, 1, 5)
    assert report.closed_endpoints == ["audio-features"]

    tracks = _tracks(engine).set_index("spotify_id")
    assert set(tracks.index) == BY_ID | set(BY_NAME) | FLAGGED
    assert (tracks["track_id"] >= INGEST_ID_BASE).all() and (tracks["genre"] == "k-pop").all()
    for spotify_id, catalog_id in [*((i, i) for i in BY_ID), *BY_NAME.items()]:
        np.testing.assert_allclose(tracks.loc[spotify_id, FILLED].astype(float),
                                   catalog_items.loc[catalog_id, FILLED].astype(float), err_msg=spotify_id)
    flagged = tracks.loc[sorted(FLAGGED)]
    assert flagged["audio_features_missing"].all() and not tracks.loc[sorted(BY_ID)]["audio_features_missing"].any()
    assert flagged[FILLED].isna().all().all()
    assert tracks.loc["0t1kP63rueHleOhQkYSXFY", "duration_ms"] == 199053  # from the track object itself

    artists = _artists(engine).set_index("artist_id")["name"]
    assert sorted(artists) == ["BABYMONSTER", "BLACKPINK", "BTS", "NewJeans", "aespa"]
    assert artists[tracks.loc["2VdSktBqFfkW7y6q5Ik4Z4", "artist_id"]] == "aespa"


def test_without_a_fill_dataset_tracks_are_only_flagged(fake_spotify, settings, engine):
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    cfg = settings.ingest.spotify.model_copy(update={"fill_dataset": None})
    settings = settings.model_copy(update={"ingest": IngestSettings(spotify=cfg)})
    report = ingest_spotify("k-pop", 5, settings=settings, engine=engine, progress=False)
    assert (report.tracks, report.filled_by_id, report.filled_by_name, report.flagged) == (11, 0, 0, 11)
    assert _tracks(engine)["audio_features_missing"].all()


def test_a_rerun_adds_no_duplicates(fake_spotify, settings, engine):
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    first = ingest_spotify("k-pop", 5, settings=settings, engine=engine, progress=False)
    tracks, artists = _tracks(engine), _artists(engine)
    again = ingest_spotify("k-pop", 5, settings=settings, engine=engine, progress=False)

    assert (again.tracks, again.new_tracks, again.new_artists) == (first.tracks, 0, 0)
    pd.testing.assert_frame_equal(_tracks(engine), tracks)
    pd.testing.assert_frame_equal(_artists(engine), artists)


def test_a_larger_rerun_adds_only_the_new_artists_tracks(fake_spotify, settings, engine):
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    ingest_spotify("k-pop", 2, settings=settings, engine=engine, progress=False)
    before = _tracks(engine)
    report = ingest_spotify("k-pop", 5, settings=settings, engine=engine, progress=False)
    after = _tracks(engine)
    assert (len(before), report.new_artists, report.new_tracks, len(after)) == (5, 3, 6, 11)
    kept = after.set_index("spotify_id").loc[before["spotify_id"], "track_id"]
    assert kept.tolist() == before["track_id"].tolist()


def test_tracks_and_artists_already_in_the_db_keep_their_ids(fake_spotify, settings, engine):
    schema.init_db(engine)
    upsert(schema.artists, pd.DataFrame({"artist_id": [7], "name": ["AESPA"]}), engine)
    upsert(schema.tracks, pd.DataFrame({"track_id": [14527], "title": ["Supernova"], "artist_id": [7],
                                        "spotify_id": ["2VdSktBqFfkW7y6q5Ik4Z4"]}), engine)
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    report = ingest_spotify("k-pop", 1, settings=settings, engine=engine, progress=False)

    tracks = _tracks(engine).set_index("spotify_id")
    assert (report.new_artists, report.new_tracks, len(tracks)) == (0, 2, 3)
    assert tracks.loc["2VdSktBqFfkW7y6q5Ik4Z4", ["track_id", "artist_id"]].tolist() == [14527, 7]
    assert len(_artists(engine)) == 1


def test_audio_features_from_the_api_where_it_gives_them(fake_spotify, settings, engine, spotify_openapi):
    fake_spotify.serve(*KPOP, "audio_features_aespa")
    report = ingest_spotify("k-pop", 1, settings=settings, engine=engine, progress=False)
    assert (report.tracks, report.features_from_api, report.flagged, report.closed_endpoints) == (3, 3, 0, [])

    given = pd.DataFrame(load_recorded("audio_features_aespa", spotify_openapi).body["audio_features"])
    stored = _tracks(engine).set_index("spotify_id").loc[given["id"], FILLED].astype(float)
    np.testing.assert_allclose(stored.to_numpy(), given[FILLED].to_numpy(dtype=float))


def test_an_app_without_top_tracks_ingests_the_artists_tracks_from_search(fake_spotify, settings, engine):
    fake_spotify.serve(*KPOP_ARTIST_PAGES, "top_tracks_aespa_forbidden", "search_tracks_aespa", "audio_features_forbidden")
    report = ingest_spotify("k-pop", 1, settings=settings, engine=engine, progress=False)
    assert (report.tracks, report.filled_by_id, report.flagged) == (2, 2, 0)
    assert report.closed_endpoints == ["audio-features", "top-tracks"]
    assert sorted(_tracks(engine)["title"]) == ["Armageddon", "Supernova"]


@pytest.mark.parametrize("genre, artists, key", [("", 5, "genre"), ('k-pop" OR "x', 5, "genre"), ("k-pop", 0, "--artists")])
def test_bad_requests_name_what_is_wrong(genre, artists, key, settings, engine):
    with pytest.raises(ConfigError, match=key):
        ingest_spotify(genre, artists, settings=settings, engine=engine)


def test_the_command_reports_the_counts(fake_spotify, spotify_settings, tmp_path, monkeypatch):
    fake_spotify.serve(*KPOP, "audio_features_forbidden")
    env = {"API_BASE": spotify_settings.api_base, "AUTH_URL": spotify_settings.auth_url, "MARKET": "KR", "PAGE_SIZE": "2"}
    for key, value in env.items():
        monkeypatch.setenv(f"HZ45_INGEST__SPOTIFY__{key}", value)
    monkeypatch.setenv("HZ45_SQL__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["spotify", "--genre", "k-pop", "--artists", "5"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "k-pop: 5 artists, 11 tracks (5 artists and 11 tracks new" in result.output
    assert "0 from the API, 5 filled by Spotify id, 1 by title and artist, 5 flagged missing" in result.output
    assert "closed to this app: audio-features" in result.output
