"""Generated data from a latent-taste model, deterministic by seed, from a few hundred rows up to
millions of tracks and tens of millions of events.

Genres have centroids in a latent space; an artist lies near its genre's centroid and a track near
its artist; a user's taste mixes two genres. A track's audio features are functions of its latent
vector plus noise, so content models have signal to find. An event picks a user (by activity), a
genre (by the user's taste), CANDIDATES tracks of that genre (by popularity) and keeps the one the
user likes best (latent affinity plus Gumbel noise); the affinity then sets the odds of a skip,
like or dislike. Events never build a users x tracks matrix: memory grows with tracks + users and
one chunk of events.

Events come in chunks of CHUNK_EVENTS, each from its own seeded generator and each covering its
own slice of the time window, so the written file is in time order and a load in memory and a
write to Parquet with the same arguments hold the same events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hz45.catalog import frames
from hz45.catalog.base import AUDIO_FEATURES, Dataset
from hz45.settings import get_settings

GENRES = ("pop", "rock", "hip-hop", "electronic", "latin", "r&b", "indie", "metal", "jazz", "classical",
          "country", "folk", "punk", "soul", "reggae", "blues", "ambient", "funk", "lofi", "world")
DIM = 16
CANDIDATES = 8
CHUNK_EVENTS = 250_000
START = pd.Timestamp("2024-01-01", tz="UTC")
DAYS = 365
# Event odds from the chosen track's affinity s (about -1..1): P(skip) = sigmoid((SKIP_AT - s) / SCALE);
# a play becomes a like with LIKE_RATE * sigmoid((s - LIKE_AT) / SCALE), a skip a dislike with DISLIKE_RATE.
SKIP_AT, LIKE_AT, SCALE = 0.35, 0.6, 0.15
LIKE_RATE, DISLIKE_RATE = 0.25, 0.15
# Codes of the event types in the generated arrays (the order of base.EVENT_TYPES).
PLAY, SKIP, LIKE, DISLIKE = 0, 1, 2, 3
EVENT_NAMES = np.array(["play", "skip", "like", "dislike"], dtype=object)


def defaults() -> dict[str, Any]:
    return {"n_users": 200, "n_tracks": 500, "n_events": 5_000, "n_artists": None,
            "seed": get_settings().data.seed}


@dataclass
class World:
    """The latent model: everything but the events."""

    centroids: np.ndarray      # genres x DIM
    artist_genre: np.ndarray   # artists
    artist_vec: np.ndarray     # artists x DIM
    track_artist: np.ndarray   # tracks
    track_vec: np.ndarray      # tracks x DIM, float32
    track_weight: np.ndarray   # tracks, popularity as a sampling weight
    user_vec: np.ndarray       # users x DIM, float32
    user_activity: np.ndarray  # users
    user_genre_cdf: np.ndarray  # users x genres, float32

    @property
    def track_genre(self) -> np.ndarray:
        return self.artist_genre[self.track_artist]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_world(n_users: int, n_tracks: int, n_artists: int | None, seed: int) -> World:
    if min(n_users, n_tracks) < 1:
        raise ValueError("dummy: n_users and n_tracks must be at least 1")
    n_artists = n_artists or max(1, n_tracks // 10)
    rng = np.random.default_rng([seed, 0])
    scale = 1.0 / np.sqrt(DIM)
    centroids = rng.normal(size=(len(GENRES), DIM))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    # Genres are unevenly popular, as in real catalogues.
    genre_share = 1.0 / np.arange(1, len(GENRES) + 1) ** 0.8
    genre_share /= genre_share.sum()

    artist_genre = rng.choice(len(GENRES), size=n_artists, p=genre_share)
    artist_vec = 0.8 * centroids[artist_genre] + rng.normal(scale=0.6 * scale, size=(n_artists, DIM))
    artist_size = rng.lognormal(0.0, 1.0, n_artists)
    track_artist = rng.choice(n_artists, size=n_tracks, p=artist_size / artist_size.sum())
    track_vec = (artist_vec[track_artist] + rng.normal(scale=0.4 * scale, size=(n_tracks, DIM))).astype(np.float32)
    track_weight = artist_size[track_artist] * rng.lognormal(0.0, 0.7, n_tracks)

    first, second = rng.choice(len(GENRES), size=(2, n_users), p=genre_share)
    user_vec = (0.7 * centroids[first] + 0.3 * centroids[second]
                + rng.normal(scale=0.5 * scale, size=(n_users, DIM))).astype(np.float32)
    # Taste over genres: softmax of affinity to each centroid, only over genres that have tracks.
    has_tracks = np.bincount(artist_genre[track_artist], minlength=len(GENRES)) > 0
    logits = 4.0 * (user_vec @ centroids.T.astype(np.float32))
    pref = np.exp(logits - logits.max(axis=1, keepdims=True)) * has_tracks
    cdf = np.cumsum(pref, axis=1)
    cdf /= cdf[:, -1:]
    return World(centroids, artist_genre, artist_vec, track_artist, track_vec, track_weight,
                 user_vec, rng.lognormal(0.0, 1.0, n_users), cdf.astype(np.float32))


def tracks_frame(world: World, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 2])
    n = len(world.track_vec)
    mix = rng.normal(size=(DIM, 9)).astype(np.float32)
    h = world.track_vec @ mix * np.float32(np.sqrt(DIM))  # about unit variance per column
    noise = rng.normal(scale=0.3, size=(n, 9))
    energy = _sigmoid(1.2 * h[:, 1] + noise[:, 1])
    audio = {
        "danceability": _sigmoid(1.2 * h[:, 0] + noise[:, 0]),
        "energy": energy,
        "key": rng.integers(0, 12, n).astype(float),
        "loudness": np.clip(-18.0 + 14.0 * energy + rng.normal(scale=2.0, size=n), -45.0, 0.0),
        "mode": (h[:, 8] + noise[:, 8] > -0.3).astype(float),
        "speechiness": _sigmoid(1.5 * h[:, 2] - 2.5 + noise[:, 2]),
        "acousticness": _sigmoid(-1.5 * h[:, 1] + h[:, 3] + noise[:, 3]),
        "instrumentalness": _sigmoid(2.0 * h[:, 4] - 2.0 + noise[:, 4]),
        "liveness": _sigmoid(0.5 * h[:, 5] - 1.5 + noise[:, 5]),
        "valence": _sigmoid(h[:, 6] + 0.5 * h[:, 0] + noise[:, 6]),
        "tempo": np.clip(120.0 + 25.0 * (h[:, 7] + noise[:, 7]), 50.0, 220.0),
        "duration_ms": np.rint(rng.lognormal(np.log(210_000), 0.3, n)),
        "time_signature": rng.choice([3.0, 4.0, 5.0], size=n, p=[0.08, 0.9, 0.02]),
    }
    genre = np.asarray(GENRES, dtype=object)[world.track_genre]
    item_id = np.arange(1, n + 1, dtype=np.int64)
    artist_id = world.track_artist.astype(np.int64) + 1
    rank = world.track_weight.argsort().argsort()
    return frames.items(
        pd.DataFrame(
            {
                "item_id": item_id,
                "title": "Track " + pd.Series(item_id).astype(str),
                "artist_id": artist_id,
                "artist_name": "Artist " + pd.Series(artist_id).astype(str),
                "genre": genre,
                "genres": [[g] for g in genre],
                "release_year": 1960 + np.rint(64 * rng.beta(3.0, 1.5, n)).astype(np.int64),
                "popularity": np.rint(100.0 * rank / max(1, n - 1)),
                **{f: audio[f] for f in AUDIO_FEATURES},
            }
        )
    )


def event_chunks(world: World, n_events: int, seed: int) -> Iterator[tuple[np.ndarray, ...]]:
    """(user index, track index, event code, milliseconds since START) per chunk, in time order."""
    order = np.argsort(world.track_genre, kind="stable")
    genre_sorted = world.track_genre[order]
    cum_weight = np.cumsum(world.track_weight[order])
    first = np.searchsorted(genre_sorted, np.arange(len(GENRES)))
    last = np.searchsorted(genre_sorted, np.arange(len(GENRES)), side="right") - 1
    low = np.where(first > 0, cum_weight[np.maximum(first - 1, 0)], 0.0)
    high = cum_weight[np.maximum(last, 0)]
    cum_activity = np.cumsum(world.user_activity)
    n_chunks = -(-n_events // CHUNK_EVENTS)
    span = DAYS * 86_400_000.0 / max(n_chunks, 1)
    for index in range(n_chunks):
        n = min(CHUNK_EVENTS, n_events - index * CHUNK_EVENTS)
        rng = np.random.default_rng([seed, 1, index])
        user = np.searchsorted(cum_activity, rng.random(n) * cum_activity[-1], side="right")
        user = np.minimum(user, len(cum_activity) - 1)
        genre = (world.user_genre_cdf[user] < rng.random(n, dtype=np.float32)[:, None]).sum(axis=1)
        genre = np.minimum(genre, len(GENRES) - 1)
        draw = (low[genre, None] + rng.random((n, CANDIDATES)) * (high - low)[genre, None]).ravel()
        # Searched in increasing order the draws walk cum_weight front to back, which at a
        # million tracks is about twice as fast as searching them in random order.
        by_value = np.argsort(draw)
        pos = np.empty(draw.size, dtype=np.int64)
        pos[by_value] = np.searchsorted(cum_weight, draw[by_value], side="right")
        pos = np.clip(pos.reshape(n, CANDIDATES), first[genre, None], last[genre, None])
        candidates = order[pos]
        affinity = np.einsum("nkd,nd->nk", world.track_vec[candidates], world.user_vec[user])
        best = np.argmax(affinity / np.float32(SCALE) + rng.gumbel(size=(n, CANDIDATES)), axis=1)
        track = candidates[np.arange(n), best]
        s = affinity[np.arange(n), best].astype(float)
        skip = rng.random(n) < _sigmoid((SKIP_AT - s) / SCALE)
        code = np.where(skip, SKIP, PLAY)
        code[~skip & (rng.random(n) < LIKE_RATE * _sigmoid((s - LIKE_AT) / SCALE))] = LIKE
        code[skip & (rng.random(n) < DISLIKE_RATE)] = DISLIKE
        millis = np.floor(index * span + np.sort(rng.random(n)) * span).astype(np.int64)
        yield user, track, code.astype(np.int8), millis


def users_frame(world: World) -> pd.DataFrame:
    taste = np.diff(world.user_genre_cdf, axis=1, prepend=0).argmax(axis=1)
    return pd.DataFrame({"user_id": np.arange(1, len(world.user_vec) + 1, dtype=np.int64),
                         "top_genre": np.asarray(GENRES, dtype=object)[taste],
                         "activity": world.user_activity})


def artists_frame(world: World) -> pd.DataFrame:
    artist_id = np.arange(1, len(world.artist_vec) + 1, dtype=np.int64)
    return pd.DataFrame({"artist_id": artist_id, "name": "Artist " + pd.Series(artist_id).astype(str),
                         "genre": np.asarray(GENRES, dtype=object)[world.artist_genre]})


def latent_frame(key: str, vectors: np.ndarray) -> pd.DataFrame:
    """The latent vectors (the ground truth of the model) as key + z0..z{DIM-1}."""
    frame = pd.DataFrame(vectors.astype(np.float32), columns=[f"z{i}" for i in range(DIM)])
    frame.insert(0, key, np.arange(1, len(vectors) + 1, dtype=np.int64))
    return frame


def load(n_users: int, n_tracks: int, n_events: int, n_artists: int | None, seed: int) -> Dataset:
    """The whole dummy dataset in memory: meant for small sizes (write_dummy for large ones)."""
    world = make_world(n_users, n_tracks, n_artists, seed)
    chunks = list(event_chunks(world, n_events, seed))
    user, track, code, millis = (np.concatenate(parts) for parts in zip(*chunks)) if chunks else ([],) * 4
    interactions = frames.interactions(
        np.asarray(user, dtype=np.int64) + 1, np.asarray(track, dtype=np.int64) + 1,
        EVENT_NAMES[np.asarray(code, dtype=np.int64)], np.ones(len(user)),
        START + pd.to_timedelta(np.asarray(millis, dtype=np.int64), unit="ms"),
    )
    return Dataset(
        name="dummy",
        interactions=interactions,
        items=tracks_frame(world, seed),
        users=users_frame(world),
        artists=artists_frame(world),
        extras={"user_latent": latent_frame("user_id", world.user_vec),
                "track_latent": latent_frame("item_id", world.track_vec)},
        notes={"seed": seed, "dim": DIM, "start": START.isoformat(), "days": DAYS},
    )


EVENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("event_type", pa.dictionary(pa.int8(), pa.string())),
        ("value", pa.float64()),
        ("timestamp", pa.timestamp("ns", tz="UTC")),
    ]
)


def write_dummy(out_dir: str | Path, n_users: int, n_tracks: int, n_events: int, seed: int,
                n_artists: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Write users, artists, tracks, latent vectors and events as Parquet under out_dir, one chunk
    of events at a time; return (and write to out_dir/meta.json) what was written."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = make_world(n_users, n_tracks, n_artists, seed)
    for name, frame in (
        ("users", users_frame(world)),
        ("artists", artists_frame(world)),
        ("tracks", tracks_frame(world, seed)),
        ("user_latent", latent_frame("user_id", world.user_vec)),
        ("track_latent", latent_frame("item_id", world.track_vec)),
    ):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out / f"{name}.parquet")
    names = pa.array(list(EVENT_NAMES), pa.string())
    start_ns = START.value
    counts = np.zeros(len(EVENT_NAMES), dtype=np.int64)
    with pq.ParquetWriter(out / "events.parquet", EVENT_SCHEMA) as writer, tqdm(
        total=n_events, desc="dummy events", unit="ev", unit_scale=True, disable=None if progress else True
    ) as bar:
        for user, track, code, millis in event_chunks(world, n_events, seed):
            counts += np.bincount(code, minlength=len(EVENT_NAMES))
            table = pa.Table.from_arrays(
                [
                    pa.array(user.astype(np.int64) + 1),
                    pa.array(track.astype(np.int64) + 1),
                    pa.DictionaryArray.from_arrays(pa.array(code), names),
                    pa.array(np.ones(len(user))),
                    pa.array(start_ns + millis * 1_000_000, pa.timestamp("ns", tz="UTC")),
                ],
                schema=EVENT_SCHEMA,
            )
            writer.write_table(table)
            bar.update(len(user))
    meta = {
        "seed": seed, "users": n_users, "tracks": n_tracks, "artists": len(world.artist_vec),
        "events": n_events, **{f"events_{k}": int(c) for k, c in zip(EVENT_NAMES, counts)},
        "start": START.isoformat(), "days": DAYS,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta
