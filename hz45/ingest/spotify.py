"""`hz45 ingest spotify`: artists of a genre, their tracks and audio features -> the main DB.

Audio features come from the API where it still gives them, then from the real track tables in
the catalog (`ingest.spotify.fill_dataset`); tracks without any keep NULL features and
`audio_features_missing` set. Rows are keyed by Spotify id, so a rerun updates what it wrote
before and adds only what is new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.engine import Engine
from tqdm import tqdm

from hz45 import catalog
from hz45.catalog.base import AUDIO_FEATURES
from hz45.errors import ConfigError
from hz45.ingest import spotify_ids
from hz45.ingest.audio_fill import SOURCE_API, SOURCE_CATALOG_ID, SOURCE_CATALOG_NAME, fill_audio_features
from hz45.ingest.spotify_api import MAX_SEARCH_OFFSET, SpotifySource
from hz45.ingest.spotify_client import spotify_client
from hz45.ingest.spotify_frames import artist_frame, track_frame, with_api_features
from hz45.settings import Settings, get_settings
from hz45.stores import schema
from hz45.stores.sql import get_engine
from hz45.stores.upsert import upsert


@dataclass
class IngestReport:
    genre: str
    artists: int = 0
    tracks: int = 0
    features_from_api: int = 0
    filled_by_id: int = 0
    filled_by_name: int = 0
    flagged: int = 0
    new_artists: int = 0
    new_tracks: int = 0
    closed_endpoints: list[str] = field(default_factory=list)


def check_request(genre: str, n_artists: int) -> None:
    if not genre.strip() or '"' in genre:
        raise ConfigError(f"ingest: bad genre {genre!r}", 'a Spotify genre such as k-pop, without double quotes')
    if not 1 <= n_artists <= MAX_SEARCH_OFFSET:
        raise ConfigError(f"ingest: --artists must be between 1 and {MAX_SEARCH_OFFSET} (got {n_artists})",
                          "Spotify's search returns at most 1000 results")


def collect(source: SpotifySource, genre: str, n_artists: int, progress: bool = True) -> tuple[list, list]:
    """The genre's artists and their tracks (each track once), as Spotify objects."""
    artists = source.artists_by_genre(genre, n_artists)
    tracks: dict[str, dict] = {}
    for artist in tqdm(artists, desc=f"tracks of {genre} artists", unit="artist", disable=None if progress else True):
        for track in source.tracks_of(artist):
            tracks.setdefault(track["id"], track)
    return artists, list(tracks.values())


def with_audio_features(source: SpotifySource, tracks: pd.DataFrame, fill_dataset: str | None) -> pd.DataFrame:
    tracks = with_api_features(tracks, source.audio_features(tracks["spotify_id"].tolist()))
    if fill_dataset and tracks["features_source"].isna().any():
        tracks = fill_audio_features(tracks, catalog.load(fill_dataset).items)
    return tracks


def _artists_credited(artists: list[dict], tracks: list[dict]) -> pd.DataFrame:
    """The searched artists and the first credited artist of every track, each once."""
    frame = artist_frame(artists + [t["artists"][0] for t in tracks])
    return frame.drop_duplicates("spotify_id", keep="first").reset_index(drop=True)


def store(artists: pd.DataFrame, tracks: pd.DataFrame, engine: Engine) -> tuple[int, int]:
    """Upsert into artists and tracks; returns how many of each were new."""
    schema.init_db(engine)
    artist_ids, new_artists = spotify_ids.artist_ids(engine, artists["name"])
    track_ids, new_tracks = spotify_ids.track_ids(engine, tracks["spotify_id"])
    by_spotify_artist = dict(zip(artists["spotify_id"], artist_ids))
    upsert(schema.artists, pd.DataFrame({"artist_id": artist_ids, "name": artists["name"]}), engine)
    rows = pd.DataFrame(
        {
            "track_id": track_ids,
            "title": tracks["title"],
            "artist_id": tracks["artist_spotify_id"].map(by_spotify_artist).astype("Int64"),
            "spotify_id": tracks["spotify_id"],
            "genre": tracks["genre"],
            "genres": tracks["genre"],
            "release_year": tracks["release_year"],
            "popularity": tracks["popularity"],
            **{f: tracks[f] for f in AUDIO_FEATURES},
            # As for catalog loads: content-based models need the whole vector.
            "audio_features_missing": tracks[list(AUDIO_FEATURES)].isna().any(axis=1),
        }
    )
    upsert(schema.tracks, rows, engine)
    return new_artists, new_tracks


def ingest_spotify(
    genre: str,
    n_artists: int,
    settings: Settings | None = None,
    engine: Engine | None = None,
    environ: Mapping[str, str] | None = None,
    progress: bool = True,
) -> IngestReport:
    """Collect `n_artists` artists of `genre` with their tracks and audio features into the main DB."""
    check_request(genre, n_artists)
    settings = settings or get_settings()
    cfg = settings.ingest.spotify
    source = SpotifySource(spotify_client(cfg, environ), cfg)
    artists, tracks = collect(source, genre, n_artists, progress)
    track_rows = with_audio_features(source, track_frame(tracks, genre), cfg.fill_dataset)
    artist_rows = _artists_credited(artists, tracks)
    new_artists, new_tracks = store(artist_rows, track_rows, engine or get_engine(settings=settings))

    sources = track_rows["features_source"]
    return IngestReport(
        genre=genre,
        artists=len(artists),
        tracks=len(track_rows),
        features_from_api=int((sources == SOURCE_API).sum()),
        filled_by_id=int((sources == SOURCE_CATALOG_ID).sum()),
        filled_by_name=int((sources == SOURCE_CATALOG_NAME).sum()),
        flagged=int(track_rows[list(AUDIO_FEATURES)].isna().any(axis=1).sum()),
        new_artists=new_artists,
        new_tracks=new_tracks,
        closed_endpoints=sorted(source.closed),
    )
