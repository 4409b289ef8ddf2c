"""Spotify Web API objects -> the frames the main DB stores (keyed by Spotify id)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hz45.catalog.base import AUDIO_FEATURES
from hz45.ingest.audio_fill import FILLED, SOURCE_API


def _year(release_date: str | None) -> int | None:
    # release_date has the precision Spotify knows: "2024", "2024-05" or "2024-05-27".
    return int(release_date[:4]) if release_date and release_date[:4].isdigit() else None


def artist_frame(artists: list[dict]) -> pd.DataFrame:
    """One row per artist object (full or simplified): spotify_id, name."""
    return pd.DataFrame(
        {"spotify_id": [a["id"] for a in artists], "name": [a["name"] for a in artists]},
        columns=["spotify_id", "name"],
    )


def track_frame(tracks: list[dict], genre: str) -> pd.DataFrame:
    """One row per track: spotify_id, title, artist_spotify_id (the first credited artist),
    artist_names, release_year, popularity, genre, the AUDIO_FEATURES (only duration_ms
    known so far) and features_source (None: no audio features yet)."""
    frame = pd.DataFrame(
        {
            "spotify_id": [t["id"] for t in tracks],
            "title": [t["name"] for t in tracks],
            "artist_spotify_id": [t["artists"][0]["id"] for t in tracks],
            "artist_names": [[a["name"] for a in t["artists"]] for t in tracks],
            "release_year": pd.array([_year(t.get("album", {}).get("release_date")) for t in tracks], dtype="Int64"),
            "popularity": pd.Series([t.get("popularity") for t in tracks], dtype="float64"),
            "genre": genre,
        }
    )
    for feature in AUDIO_FEATURES:
        frame[feature] = np.nan
    frame["duration_ms"] = pd.Series([t.get("duration_ms") for t in tracks], dtype="float64")
    frame["features_source"] = pd.Series([None] * len(tracks), dtype=object)
    return frame


def with_api_features(tracks: pd.DataFrame, features: dict[str, dict]) -> pd.DataFrame:
    """`tracks` with the audio features the API returned, by track id."""
    out = tracks.copy()
    has = out["spotify_id"].isin(list(features))
    for feature in FILLED:
        out.loc[has, feature] = [float(features[i].get(feature, np.nan)) for i in out.loc[has, "spotify_id"]]
    out.loc[has, "features_source"] = SOURCE_API
    return out
