"""What the ingestion reads from the Spotify Web API: artists by genre, their tracks, audio features.

Spotify has been closing endpoints to apps in Development Mode: audio features since November
2024, artists' top tracks since March 2026 (both answer 403). A closed endpoint is noted once and
not called again in the run; the caller decides how to make up for it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import spotipy

from hz45.ingest.spotify_client import SpotifyApiError, api_errors
from hz45.settings import SpotifyIngestSettings

# Statuses with which Spotify answers an endpoint the app may no longer use.
CLOSED = (403, 404)
# Spotify accepts search offsets up to this value.
MAX_SEARCH_OFFSET = 1000
AUDIO_FEATURES_BATCH = 100


class _QuietWhenClosed(logging.Filter):
    """spotipy logs every HTTP error at ERROR; a closed endpoint is expected here and reported
    once in the ingestion's summary instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(f"returned {status} " in record.getMessage() for status in CLOSED)


@contextmanager
def _deprecated_endpoint() -> Iterator[None]:
    # spotipy also warns on every call of an endpoint Spotify deprecated; its 403 is handled here.
    logger, quiet = logging.getLogger("spotipy.client"), _QuietWhenClosed()
    logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.removeFilter(quiet)


def _next_offset(page: dict) -> int | None:
    """The offset of the page after `page`, read from its `next` link (never fetched itself:
    only the configured API base is ever contacted)."""
    if not page["items"] or not page.get("next"):
        return None
    offset = parse_qs(urlsplit(page["next"]).query).get("offset")
    return int(offset[0]) if offset else page["offset"] + len(page["items"])


class SpotifySource:
    """Reads from the Spotify Web API through one configured spotipy client."""

    def __init__(self, client: spotipy.Spotify, cfg: SpotifyIngestSettings):
        self.client = client
        self.cfg = cfg
        self.closed: set[str] = set()

    def search(self, query: str, kind: str, n: int, keep: Callable[[dict], bool] = lambda item: True) -> list[dict]:
        """Up to `n` distinct items of `kind` ("artist", "track") matching `query` and `keep`,
        page by page."""
        found: dict[str, dict] = {}
        offset: int | None = 0
        while offset is not None and offset <= MAX_SEARCH_OFFSET and len(found) < n:
            with api_errors(f"search {query!r} at offset {offset}", self.cfg):
                result = self.client.search(
                    query, limit=self.cfg.page_size, offset=offset, type=kind, market=self.cfg.market
                )
            page = result[f"{kind}s"]
            for item in page["items"]:
                if keep(item):
                    found.setdefault(item["id"], item)
            offset = _next_offset(page)
        return list(found.values())[:n]

    def artists_by_genre(self, genre: str, n: int) -> list[dict]:
        return self.search(f'genre:"{genre}"', "artist", n)

    def tracks_of(self, artist: dict) -> list[dict]:
        """The artist's top tracks, or, where that endpoint is closed, the artist's tracks that a
        track search finds (only those crediting the artist)."""
        n = self.cfg.tracks_per_artist
        if "top-tracks" not in self.closed:
            try:
                with _deprecated_endpoint(), api_errors(f"top tracks of artist {artist['id']}", self.cfg):
                    return self.client.artist_top_tracks(artist["id"], country=self.cfg.market)["tracks"][:n]
            except SpotifyApiError as exc:
                if exc.status not in CLOSED:
                    raise
                self.closed.add("top-tracks")
        return self.search(
            f'artist:"{artist["name"]}"', "track", n, keep=lambda t: any(a["id"] == artist["id"] for a in t["artists"])
        )

    def audio_features(self, track_ids: list[str]) -> dict[str, dict]:
        """Audio features by track id, for the ids Spotify still gives them (none when closed)."""
        features: dict[str, dict] = {}
        for start in range(0, len(track_ids), AUDIO_FEATURES_BATCH):
            if "audio-features" in self.closed:
                break
            batch = track_ids[start : start + AUDIO_FEATURES_BATCH]
            try:
                with _deprecated_endpoint(), api_errors(f"audio features of {len(batch)} tracks", self.cfg):
                    answer = self.client.audio_features(batch)
            except SpotifyApiError as exc:
                if exc.status not in CLOSED:
                    raise
                self.closed.add("audio-features")
                break
            features.update((f["id"], f) for f in answer if f)
        return features
