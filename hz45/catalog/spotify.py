"""Both real Spotify track tables unified into one track table with audio features.

- spotify-music-dataset-2024 (2 files): genre (playlist_genre), popularity, album release date.
- hit-predictor-1960-2019 (6 files, one per decade): Billboard hit flag, no genre or popularity.

A track that appears more than once (several playlists, or both tables) is merged into one row by
its Spotify id: the row with the most known fields is kept and its unknown fields are filled from
the others; `genres` gathers every playlist genre the track was found under.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hz45.catalog import frames
from hz45.catalog.base import AUDIO_FEATURES, Dataset
from hz45.catalog.names import normalise, split_credit
from hz45.catalog.sources import Reader

FOLDER = "spotify-tracks"
SPOTIFY_2024 = "spotify-music-dataset-2024"
HIT_PREDICTOR = "hit-predictor-1960-2019"
FILES_2024 = tuple(f"{SPOTIFY_2024}/{p}_popularity_spotify_data.csv" for p in ("high", "low"))
DECADES = {"60": 1960, "70": 1970, "80": 1980, "90": 1990, "00": 2000, "10": 2010}
FILES_HITS = tuple(f"{HIT_PREDICTOR}/dataset-of-{d}s.csv" for d in DECADES)
FILES = FILES_2024 + FILES_HITS
# The fields whose presence makes a row richer than its duplicates.
INFORMATIVE = (*AUDIO_FEATURES, "popularity", "genre", "release_year", "album")


def _spotify_id(uri: pd.Series) -> pd.Series:
    return uri.str.rsplit(":", n=1).str[-1]


def read_2024(reader: Reader) -> pd.DataFrame:
    raw = pd.concat([reader.csv(f"{FOLDER}/{f}", dtype={"track_album_release_date": str}) for f in FILES_2024])
    spotify_id = raw["track_id"].fillna(raw["id"]).fillna(_spotify_id(raw["uri"]))
    year = pd.to_numeric(raw["track_album_release_date"].str[:4], errors="coerce")
    return pd.DataFrame(
        {
            "spotify_id": spotify_id,
            "title": raw["track_name"],
            "artist_name": raw["track_artist"].fillna(""),
            "genre": raw["playlist_genre"],
            "subgenre": raw["playlist_subgenre"],
            "popularity": raw["track_popularity"].astype(float),
            "release_year": year.astype("Int64"),
            "album": raw["track_album_name"],
            **{f: raw[f].astype(float) for f in AUDIO_FEATURES},
            "source": SPOTIFY_2024,
        }
    )


def read_hits(reader: Reader) -> pd.DataFrame:
    parts = []
    for decade, relative in zip(DECADES.values(), FILES_HITS):
        raw = reader.csv(f"{FOLDER}/{relative}")
        parts.append(
            pd.DataFrame(
                {
                    "spotify_id": _spotify_id(raw["uri"]),
                    "title": raw["track"],
                    "artist_name": raw["artist"].fillna(""),
                    **{f: raw[f].astype(float) for f in AUDIO_FEATURES},
                    "decade": decade,
                    "is_hit": raw["target"].astype(bool),
                    "chorus_hit": raw["chorus_hit"].astype(float),
                    "sections": raw["sections"].astype(float),
                    "source": HIT_PREDICTOR,
                }
            )
        )
    return pd.concat(parts)


def merge_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per spotify_id: the richest row, its gaps filled from its duplicates."""
    present = [c for c in INFORMATIVE if c in rows]
    rows = rows.assign(_richness=rows[present].notna().sum(axis=1), _order=np.arange(len(rows)))
    rows = rows.sort_values(["spotify_id", "_richness", "_order"], ascending=[True, False, True])
    grouped = rows.groupby("spotify_id", sort=True)
    merged = grouped.first()
    genres = rows.dropna(subset=["genre"]).drop_duplicates(["spotify_id", "genre"])
    genres = genres.groupby("spotify_id")["genre"].agg(list).reindex(merged.index)
    merged["genres"] = [g if isinstance(g, list) else [] for g in genres]
    in_table = {t: rows["source"].eq(t).groupby(rows["spotify_id"]).any() for t in (SPOTIFY_2024, HIT_PREDICTOR)}
    merged["sources"] = np.select(
        [in_table[SPOTIFY_2024] & in_table[HIT_PREDICTOR], in_table[SPOTIFY_2024]],
        [f"{SPOTIFY_2024}+{HIT_PREDICTOR}", SPOTIFY_2024], HIT_PREDICTOR,
    )
    merged["copies"] = grouped.size()
    # `source` is the table of the kept row (its credit's format), `sources` all tables it is in.
    return merged.drop(columns=["_richness", "_order"]).reset_index()


def load(reader: Reader) -> Dataset:
    rows = pd.concat([read_2024(reader), read_hits(reader)], ignore_index=True)
    tracks = merge_duplicates(rows.dropna(subset=["spotify_id"]))
    tracks["artist_names"] = [split_credit(c, s) for c, s in zip(tracks["artist_name"], tracks["source"])]

    credited = tracks[["artist_names"]].explode("artist_names").dropna()
    credited["key"] = credited["artist_names"].map(normalise)
    artists = credited.drop_duplicates("key").sort_values("key").reset_index(drop=True)
    artists = pd.DataFrame({"artist_id": np.arange(1, len(artists) + 1, dtype=np.int64),
                            "name": artists["artist_names"], "key": artists["key"]})
    first_key = tracks["artist_names"].map(lambda names: normalise(names[0]) if names else None)
    tracks["artist_id"] = first_key.map(artists.set_index("key")["artist_id"]).astype("Int64")
    tracks.insert(0, "item_id", np.arange(1, len(tracks) + 1, dtype=np.int64))
    tracks["is_hit"] = tracks["is_hit"].astype("boolean")
    tracks["decade"] = tracks["decade"].astype("Int64")

    return Dataset(
        name="spotify-tracks",
        interactions=frames.no_interactions(),
        items=frames.items(tracks),
        users=pd.DataFrame({"user_id": pd.Series([], dtype=np.int64)}),
        artists=artists.drop(columns="key"),
        notes={
            "rows_read": len(rows),
            "tracks": len(tracks),
            "duplicates_merged": int(len(rows) - len(tracks)),
            "tracks_in_both_tables": int(tracks["sources"].str.contains("+", regex=False).sum()),
        },
    )
