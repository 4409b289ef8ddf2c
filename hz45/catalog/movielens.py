"""MovieLens (GroupLens): the 100K archive shipped in the data folder, and the official 100K and 1M
archives a user may have elsewhere (`load("movielens", path=...)`).

Both archives are ISO-8859-1. Ratings become `rating` interactions (value 1..5); the genres of an
item are its flagged genres in the archive's order and the primary genre is the first of them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from hz45.catalog import frames
from hz45.catalog.base import Dataset
from hz45.catalog.sources import Reader
from hz45.errors import DataNotFound

ENCODING = "ISO-8859-1"
LAYOUT_100K = ("u.data", "u.item", "u.user", "u.genre")
LAYOUT_1M = ("ratings.dat", "movies.dat", "users.dat")
ML_100K_FOLDER = "movielens/ml-100k"

# ml-1m's users.dat codes occupations as numbers; the names are those of its README.
OCCUPATIONS_1M = (
    "other or not specified", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)


def layout(folder: Path) -> tuple[str, ...]:
    """The files of the archive in `folder`: the 100K layout (u.data) or the 1M one (ratings.dat)."""
    for files in (LAYOUT_100K, LAYOUT_1M):
        if (folder / files[0]).exists():
            return files
    raise DataNotFound(
        f"data: no MovieLens archive in {folder} (neither u.data nor ratings.dat)",
        "pass path= the unpacked ml-100k or ml-1m folder",
    )


def load_archive(reader: Reader) -> Dataset:
    if layout(reader.root) == LAYOUT_100K:
        return load_100k(reader, "", "ml-100k")
    return load_1m(reader)


def load_ml100k(reader: Reader) -> Dataset:
    return load_100k(reader, f"{ML_100K_FOLDER}/", "ml-100k")


def load_100k(reader: Reader, prefix: str, name: str) -> Dataset:
    ratings = reader.csv(
        prefix + "u.data", sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"]
    )
    genre_names = [
        line.split("|")[0] for line in reader.text(prefix + "u.genre", ENCODING).splitlines() if line.strip()
    ]
    raw_items = reader.csv(
        prefix + "u.item",
        sep="|",
        header=None,
        encoding=ENCODING,
        quoting=csv.QUOTE_NONE,
        names=["item_id", "title", "release_date", "video_release_date", "imdb_url", *genre_names],
    )
    flags = raw_items[genre_names].to_numpy(dtype=bool)
    genres = [[g for g, on in zip(genre_names, row) if on] for row in flags]
    items = _movies(
        raw_items["item_id"], raw_items["title"], genres,
        pd.to_datetime(raw_items["release_date"], format="%d-%b-%Y").dt.year,
        release_date=raw_items["release_date"].fillna(""), imdb_url=raw_items["imdb_url"].fillna(""),
    )
    users = reader.csv(
        prefix + "u.user",
        sep="|",
        header=None,
        encoding=ENCODING,
        names=["user_id", "age", "gender", "occupation", "zip_code"],
        dtype={"zip_code": str},
    )
    return _dataset(name, ratings, items, users)


def load_1m(reader: Reader) -> Dataset:
    ratings = _read_double_colon(reader, "ratings.dat", ["user_id", "item_id", "rating", "timestamp"])
    movies = _read_double_colon(reader, "movies.dat", ["item_id", "title", "genres"])
    genres = movies["genres"].fillna("").str.split("|").map(lambda gs: [g for g in gs if g])
    year = movies["title"].str.extract(r"\((\d{4})\)\s*$")[0]
    items = _movies(movies["item_id"], movies["title"], genres, pd.to_numeric(year))
    users = _read_double_colon(reader, "users.dat", ["user_id", "gender", "age", "occupation", "zip_code"])
    # ml-1m ages are the lower bounds of its README's age bands (1 = under 18, 56 = 56+).
    users["occupation"] = np.asarray(OCCUPATIONS_1M, dtype=object)[users["occupation"].astype(int)]
    users = users[["user_id", "age", "gender", "occupation", "zip_code"]]
    return _dataset("ml-1m", ratings, items, users)


def _movies(item_id: pd.Series, title: pd.Series, genres: list[list[str]], year: pd.Series, **extra) -> pd.DataFrame:
    """Canonical movie items; the primary genre is the first listed."""
    primary = [g[0] if g else "" for g in genres]
    return frames.items(pd.DataFrame({"item_id": item_id, "title": title, "genre": primary, "genres": list(genres),
                                      "release_year": year, **extra}))


def _read_double_colon(reader: Reader, relative: str, names: list[str]) -> pd.DataFrame:
    """ml-1m separates fields by '::'; the C parser takes one character, so swap it for a tab
    (no field of the archive holds a tab) instead of the much slower python engine."""
    text = reader.text(relative, ENCODING).replace("::", "\t")
    dtypes = {"zip_code": str, "title": str, "genres": str}
    return pd.read_csv(
        io.StringIO(text), sep="\t", header=None, names=names, quoting=csv.QUOTE_NONE,
        dtype={k: v for k, v in dtypes.items() if k in names},
    )


def _dataset(name: str, ratings: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame) -> Dataset:
    interactions = frames.interactions(
        ratings["user_id"],
        ratings["item_id"],
        np.full(len(ratings), "rating", dtype=object),
        ratings["rating"],
        pd.to_datetime(ratings["timestamp"], unit="s", utc=True),
    )
    users = users.astype({"user_id": np.int64})
    return Dataset(name=name, interactions=interactions, items=items, users=users)
