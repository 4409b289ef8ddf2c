"""Fixtures shared by the unit and integration suites."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hz45.loopback import keep_local_runs_on_loopback
from hz45.settings import SpotifyIngestSettings, get_settings
from streaming.spark import processor_jar
from spotify_fake import CLIENT_ID, CLIENT_SECRET, SPEC_FILE, FakeSpotify, OpenApi, start

# Before any test module imports Ray or Spark.
keep_local_runs_on_loopback(get_settings())

# A jar reaches the Spark driver's classpath only when its JVM starts, and the first test module
# to start Spark keeps that JVM for the whole session: so every Spark this process starts carries
# the streaming job's operator from the start.
_operator_jar = processor_jar(get_settings().path(get_settings().spark.packages_cache))
os.environ["PYSPARK_SUBMIT_ARGS"] = (
    f"--driver-class-path {_operator_jar} " + os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell")
)


@pytest.fixture(scope="session")
def spotify_openapi() -> OpenApi:
    settings = get_settings()
    return OpenApi(settings.path(settings.data.root) / SPEC_FILE)


@pytest.fixture
def fake_spotify(spotify_openapi: OpenApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSpotify]:
    """The Spotify Web API on 127.0.0.1 with an empty script, and client credentials for it."""
    fake = FakeSpotify(spotify_openapi)
    server = start(fake)
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", CLIENT_SECRET)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def spotify_settings(fake_spotify: FakeSpotify) -> SpotifyIngestSettings:
    """ingest.spotify pointed at the local server, with small pages and short, bounded waits."""
    return get_settings().ingest.spotify.model_copy(
        update={
            "api_base": fake_spotify.api_base,
            "auth_url": fake_spotify.auth_url,
            "market": "KR",
            "page_size": 2,
            "timeout_s": 5.0,
            "retries": 3,
            "backoff_factor": 0.05,
            "backoff_max_s": 0.2,
            "max_retry_after_s": 5.0,
        }
    )
