"""The Spotify reads against recorded responses: paging, rate limits, server errors, closed endpoints."""

from __future__ import annotations

import base64
import json
import logging

import pytest
import spotipy

from hz45.errors import ConfigError
from hz45.ingest.spotify_api import SpotifySource
from hz45.ingest.spotify_client import RateLimited, SpotifyApiError, spotify_client
from spotify_fake import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, FIXTURES, KPOP_ARTIST_PAGES, load_recorded

AESPA = {"id": "6YVMFz59CuY7ngCxTxjpxE", "name": "aespa"}


@pytest.fixture
def source(spotify_settings):
    return SpotifySource(spotify_client(spotify_settings), spotify_settings)


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_every_recorded_response_matches_the_openapi_description(name, spotify_openapi):
    recorded = load_recorded(name, spotify_openapi)
    assert recorded.status in (200, 403, 429, 502, 503)


def test_the_description_check_rejects_a_wrong_body(spotify_openapi):
    body = json.loads((FIXTURES / "top_tracks_aespa.json").read_text())["response"]["body"]
    body["tracks"][0]["duration_ms"] = "2:58"
    del body["tracks"][1]["album"]["release_date"]
    errors = spotify_openapi.response_errors("GET", f"/artists/{AESPA['id']}/top-tracks", 200, body)
    assert any("duration_ms" in e for e in errors) and any("release_date" in e for e in errors)


def test_a_request_spotify_would_refuse_is_refused(fake_spotify, spotify_settings):
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    client = spotify_client(spotify_settings)
    with pytest.raises(spotipy.SpotifyException) as caught:
        client.search('genre:"k-pop"', limit=50, type="artist")  # Spotify's maximum is 10 since 2026
    assert caught.value.http_status == 400 and "limit" in caught.value.msg


def test_artist_search_follows_pages_until_enough(fake_spotify, source):
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    artists = source.artists_by_genre("k-pop", 3)
    assert [a["name"] for a in artists] == ["aespa", "NewJeans", "BABYMONSTER"]
    assert [r.query["offset"] for r in fake_spotify.api_calls("/search")] == ["0", "2"]
    assert {r.query["q"] for r in fake_spotify.api_calls("/search")} == {'genre:"k-pop"'}


def test_artist_search_stops_at_the_last_page(fake_spotify, source):
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    artists = source.artists_by_genre("k-pop", 50)
    assert [a["name"] for a in artists] == ["aespa", "NewJeans", "BABYMONSTER", "BTS", "BLACKPINK"]
    assert [r.query["offset"] for r in fake_spotify.api_calls("/search")] == ["0", "2", "4"]


def test_rate_limit_waits_for_retry_after(fake_spotify, source):
    fake_spotify.serve("search_rate_limited", times=1)
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    assert len(source.artists_by_genre("k-pop", 2)) == 2
    first, retried = fake_spotify.api_calls("/search")
    assert first.query == retried.query
    assert 1.0 <= retried.at - first.at < 3.0  # Retry-After: 1


def test_a_retry_after_beyond_the_bound_stops_without_waiting(fake_spotify, source):
    fake_spotify.serve("search_rate_limited_long", times=1)
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    with pytest.raises(RateLimited, match="86400 s.*max_retry_after_s=5"):
        source.artists_by_genre("k-pop", 2)
    assert len(fake_spotify.api_calls("/search")) == 1


def test_server_errors_are_retried_with_backoff(fake_spotify, source, spotify_settings):
    fake_spotify.serve("search_bad_gateway", "search_service_unavailable", times=1)
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    assert len(source.artists_by_genre("k-pop", 2)) == 2
    calls = fake_spotify.api_calls("/search")
    assert len(calls) == 3
    # urllib3 retries the first failure at once, then waits backoff_factor * 2 ** (n - 1).
    assert calls[2].at - calls[1].at >= 2 * spotify_settings.backoff_factor


def test_persistent_server_errors_give_up_after_the_retries(fake_spotify, source, spotify_settings):
    fake_spotify.serve("search_bad_gateway")
    with pytest.raises(SpotifyApiError, match="still failing after 3 retries"):
        source.artists_by_genre("k-pop", 2)
    assert len(fake_spotify.api_calls("/search")) == spotify_settings.retries + 1


def test_closed_top_tracks_fall_back_to_the_artists_tracks_in_search(fake_spotify, source):
    fake_spotify.serve("top_tracks_aespa_forbidden", "search_tracks_aespa")
    tracks = source.tracks_of(AESPA)
    assert [t["name"] for t in tracks] == ["Supernova", "Armageddon"]  # not the piano cover
    source.tracks_of(AESPA)
    assert len(fake_spotify.api_calls(f"/artists/{AESPA['id']}/top-tracks")) == 1
    assert fake_spotify.api_calls("/search")[0].query["q"] == 'artist:"aespa"'


def test_closed_audio_features_give_none_and_are_asked_once(fake_spotify, source, caplog):
    fake_spotify.serve("audio_features_forbidden")
    with caplog.at_level(logging.INFO):
        assert source.audio_features(["2VdSktBqFfkW7y6q5Ik4Z4"]) == {}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # expected, so not an error
    assert source.audio_features(["5eWcGfUCrVFMoYskyfkEPE"]) == {}
    assert len(fake_spotify.api_calls("/audio-features")) == 1
    assert "audio-features" in source.closed


def test_audio_features_where_the_api_gives_them(fake_spotify, source):
    fake_spotify.serve("audio_features_aespa")
    ids = ["2VdSktBqFfkW7y6q5Ik4Z4", "1V1G3oYYr1ULXq5LFzf9cX", "5eWcGfUCrVFMoYskyfkEPE"]
    features = source.audio_features(ids)
    assert sorted(features) == sorted(ids)
    assert features["2VdSktBqFfkW7y6q5Ik4Z4"]["tempo"] == 127.0
    assert fake_spotify.api_calls("/audio-features")[0].query["ids"] == ",".join(ids)


def test_missing_credentials_name_the_variable(spotify_settings, monkeypatch):
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="SPOTIPY_CLIENT_SECRET"):
        spotify_client(spotify_settings)


def test_refused_credentials_fail_without_showing_them(fake_spotify, spotify_settings, monkeypatch):
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "wrong-" + CLIENT_SECRET)
    fake_spotify.serve(*KPOP_ARTIST_PAGES)
    source = SpotifySource(spotify_client(spotify_settings), spotify_settings)
    with pytest.raises(SpotifyApiError, match="token request refused") as caught:
        source.artists_by_genre("k-pop", 2)
    assert CLIENT_SECRET not in str(caught.value) and CLIENT_ID not in str(caught.value)
    assert fake_spotify.requests == []


def test_credentials_and_token_never_reach_the_logs(fake_spotify, source, caplog):
    fake_spotify.serve(*KPOP_ARTIST_PAGES, "audio_features_forbidden")
    with caplog.at_level(logging.DEBUG):
        source.artists_by_genre("k-pop", 2)
        source.audio_features(["2VdSktBqFfkW7y6q5Ik4Z4"])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert "Authorization" in logged and "<redacted>" in logged  # spotipy did log its headers
    for secret in (CLIENT_SECRET, basic, ACCESS_TOKEN):
        assert secret not in logged
