"""hetrec2011-lastfm-2k: Last.fm users' artist play counts, their tags with dates, and friends.

The items of this dataset are artists (item_id = artist_id). Play counts carry no time in the
data: they are totals up to the day the data was collected, so every `play` interaction gets the
snapshot time, taken as the day after the last tag assignment in the data (2011-05-10 UTC).
An artist's genre is its most used tag, its genres the five most used.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from hz45.catalog import frames
from hz45.catalog.base import Dataset
from hz45.catalog.sources import Reader

FOLDER = "lastfm-2k"
FILES = ("user_artists.dat", "artists.dat", "tags.dat", "user_taggedartists.dat", "user_friends.dat")
TOP_TAGS = 5


def read_plays(reader: Reader) -> pd.DataFrame:
    """user_id, artist_id, weight (the user's play count of the artist)."""
    plays = reader.csv(f"{FOLDER}/user_artists.dat", sep="\t")
    return plays.rename(columns={"userID": "user_id", "artistID": "artist_id"}).astype(np.int64)


def read_artists(reader: Reader) -> pd.DataFrame:
    """artist_id, name, url, picture_url; artists.dat is UTF-8 with CRLF endings."""
    artists = reader.csv(
        f"{FOLDER}/artists.dat", sep="\t", encoding="utf-8", quoting=csv.QUOTE_NONE,
        dtype={"name": str, "url": str, "pictureURL": str}, keep_default_na=False,
    )
    artists = artists.rename(columns={"id": "artist_id", "pictureURL": "picture_url"})
    return frames.ids(artists.assign(name=artists["name"].str.strip()), "artist_id")


def load(reader: Reader) -> Dataset:
    plays = read_plays(reader)
    artists = read_artists(reader)
    tags = reader.csv(
        f"{FOLDER}/tags.dat", sep="\t", encoding="ISO-8859-1", quoting=csv.QUOTE_NONE,
        dtype={"tagValue": str}, keep_default_na=False,
    ).rename(columns={"tagID": "tag_id", "tagValue": "tag"})
    tagged = reader.csv(f"{FOLDER}/user_taggedartists.dat", sep="\t")
    tagged = pd.DataFrame(
        {
            "user_id": tagged["userID"].astype(np.int64),
            "artist_id": tagged["artistID"].astype(np.int64),
            "tag_id": tagged["tagID"].astype(np.int64),
            "timestamp": pd.to_datetime(tagged[["year", "month", "day"]], utc=True),
        }
    )
    friends = reader.csv(f"{FOLDER}/user_friends.dat", sep="\t")
    friends = friends.rename(columns={"userID": "user_id", "friendID": "friend_id"}).astype(np.int64)

    snapshot = tagged["timestamp"].max().normalize() + pd.Timedelta(days=1)
    interactions = frames.interactions(
        plays["user_id"], plays["artist_id"], np.full(len(plays), "play", dtype=object),
        plays["weight"], np.full(len(plays), snapshot),
    )
    genres = _top_tags(tagged, tags)
    items = frames.items(
        pd.DataFrame(
            {
                "item_id": artists["artist_id"],
                "title": artists["name"],
                "artist_id": artists["artist_id"],
                "artist_name": artists["name"],
                "genres": artists["artist_id"].map(genres).map(lambda g: g if isinstance(g, list) else []),
            }
        ).assign(genre=lambda f: f["genres"].map(lambda g: g[0] if g else ""))
    )
    users = pd.DataFrame({"user_id": np.unique(np.concatenate([plays["user_id"], friends["user_id"]]))})
    return Dataset(
        name="lastfm-2k",
        interactions=interactions,
        items=items,
        users=users,
        artists=artists,
        extras={"tags": tags, "tagged": tagged, "friends": friends},
        notes={"play_timestamp": f"{snapshot.isoformat()} (snapshot: the day after the last tag assignment)"},
    )


def _top_tags(tagged: pd.DataFrame, tags: pd.DataFrame) -> pd.Series:
    """artist_id -> its most used tags, most used first (ties by tag id, so the order is stable)."""
    counts = tagged.groupby(["artist_id", "tag_id"]).size().rename("n").reset_index()
    counts = counts.sort_values(["artist_id", "n", "tag_id"], ascending=[True, False, True])
    top = counts.groupby("artist_id").head(TOP_TAGS).merge(tags, on="tag_id")
    top = top.sort_values(["artist_id", "n", "tag_id"], ascending=[True, False, True])
    return top.groupby("artist_id")["tag"].agg(list)
