"""The music dataset of the demo: real Last.fm users' artist tastes joined with real Spotify tracks.

Join: a Last.fm artist matches a Spotify track when its normalised name (names.normalise) equals
the track's whole artist credit, or, when the whole credit is no Last.fm artist, one of the
credit's parts (names.split_credit). Keeping a credit whole when it is itself a Last.fm artist
avoids false hits such as "Earth" from "Earth, Wind & Fire".

Events, deterministic by `seed`: each user with at least one matched artist gets about
`events_per_user` exposures (scaled by log1p of the user's matched play count, so heavy listeners
get more). An exposure picks one of the user's matched artists with probability proportional to
the real play count, then one of that artist's tracks uniformly. Whether it is a skip depends on
how far the track's audio features lie from the user's taste (the play-weighted mean of the
standardised audio features of the user's artists): with r the distance's percentile over all
exposures, P(skip) = SKIP_BASE + SKIP_SLOPE * r. A play is followed by a like with probability
LIKE_RATE * (1 - r), a skip by a dislike with probability DISLIKE_RATE * r.

Time: exposures come in listening sessions (a new one starts with probability 1 / SESSION_EVENTS);
a session starts at a uniform time in a window of `days` days that opens on the first of January
after the latest release year in the track table, so no track is played before it came out.
Within a session a play lasts the track's duration and a skip 5..30 seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hz45.catalog import frames, lastfm, spotify
from hz45.catalog.base import Dataset
from hz45.catalog.names import normalise
from hz45.catalog.sources import Reader
from hz45.settings import get_settings

FILES = tuple(f"{lastfm.FOLDER}/{f}" for f in ("user_artists.dat", "artists.dat")) + tuple(
    f"{spotify.FOLDER}/{f}" for f in spotify.FILES
)
TASTE_FEATURES = ("danceability", "energy", "loudness", "speechiness", "acousticness",
                  "instrumentalness", "liveness", "valence", "tempo")
SKIP_BASE, SKIP_SLOPE = 0.1, 0.5
LIKE_RATE, DISLIKE_RATE = 0.2, 0.2
SESSION_EVENTS = 12
SKIP_SECONDS = (5.0, 30.0)


def defaults() -> dict[str, Any]:
    return {"seed": get_settings().data.seed, "events_per_user": 50, "users": None, "days": 60}


def link_tracks(tracks: pd.DataFrame, artists: pd.DataFrame) -> pd.DataFrame:
    """item_id, artist_id (Last.fm), position (of the artist in the credit) for every match."""
    keys = artists.assign(key=artists["name"].map(normalise))[["artist_id", "key"]]
    known = set(keys["key"])

    def credit_keys(credit: str, parts: list[str]) -> list[str]:
        whole = normalise(credit)
        return [whole] if whole in known else [normalise(p) for p in parts]

    credited = pd.DataFrame(
        {"item_id": tracks["item_id"],
         "key": [credit_keys(c, p) for c, p in zip(tracks["artist_name"], tracks["artist_names"])]}
    ).explode("key").dropna()
    credited["position"] = credited.groupby("item_id").cumcount()
    link = credited.merge(keys, on="key").drop(columns="key")
    return link.drop_duplicates(["item_id", "artist_id"]).sort_values(["item_id", "position"], ignore_index=True)


def load(reader: Reader, seed: int, events_per_user: int, users: int | None, days: int) -> Dataset:
    plays = lastfm.read_plays(reader)
    lf_artists = lastfm.read_artists(reader)
    tracks = spotify.load(reader).items
    if users is not None:
        plays = plays[plays["user_id"].isin(np.sort(plays["user_id"].unique())[:users])]

    # Only the artists the chosen users played take part (all of them when `users` is None).
    lf_artists = lf_artists[lf_artists["artist_id"].isin(plays["artist_id"])].reset_index(drop=True)
    link = link_tracks(tracks, lf_artists)
    matched = plays[plays["artist_id"].isin(link["artist_id"])].reset_index(drop=True)
    items, new_id = _items(tracks, link)
    link = link.assign(item_id=link["item_id"].map(new_id))

    interactions = _sample_events(matched, link, items, np.random.default_rng(seed), events_per_user, days)
    user_weight = matched.groupby("user_id")["weight"].agg(["size", "sum"])
    notes = {
        "lastfm_users": int(plays["user_id"].nunique()),
        "lastfm_artists": len(lf_artists),
        "spotify_tracks": len(tracks),
        "artists_matched": int(link["artist_id"].nunique()),
        "artist_match_rate": round(link["artist_id"].nunique() / len(lf_artists), 4),
        "users_with_match": len(user_weight),
        "user_match_rate": round(len(user_weight) / plays["user_id"].nunique(), 4),
        "play_weight_kept": round(float(matched["weight"].sum() / plays["weight"].sum()), 4),
        "user_artist_rows_kept": len(matched),
        "tracks_matched": len(items),
        "seed": seed,
    }
    return Dataset(
        name="lastfm-spotify",
        interactions=interactions,
        items=items,
        users=pd.DataFrame({"user_id": user_weight.index.to_numpy(np.int64),
                            "artists_matched": user_weight["size"].to_numpy(),
                            "play_weight": user_weight["sum"].to_numpy()}),
        artists=lf_artists[lf_artists["artist_id"].isin(link["artist_id"])].reset_index(drop=True),
        extras={"user_artists": matched, "track_artists": link},
        notes=notes,
    )


def _items(tracks: pd.DataFrame, link: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The matched tracks, renumbered 1..n in Spotify id order, under their first matched artist;
    and the map from the track table's ids to the new ones."""
    first = link.drop_duplicates("item_id").set_index("item_id")["artist_id"]
    items = tracks[tracks["item_id"].isin(first.index)].copy()
    items["artist_id"] = items["item_id"].map(first).astype("Int64")
    new_id = pd.Series(np.arange(1, len(items) + 1, dtype=np.int64), index=items["item_id"])
    items["item_id"] = new_id.to_numpy()
    return frames.items(items), new_id


def _sample_events(plays: pd.DataFrame, link: pd.DataFrame, items: pd.DataFrame,
                   rng: np.random.Generator, events_per_user: int, days: int) -> pd.DataFrame:
    plays = plays.sort_values(["user_id", "artist_id"], ignore_index=True)
    user_ids, counts, user_pos, item = _exposures(plays, link, rng, events_per_user)
    item_row = item - 1  # items are numbered 1..n in row order
    r = _distance_rank(plays, link, items, user_pos, item_row)
    n = len(item)
    skip = rng.random(n) < SKIP_BASE + SKIP_SLOPE * r
    duration = items["duration_ms"].fillna(items["duration_ms"].median()).to_numpy()[item_row] / 1000.0
    seconds = _session_seconds(skip, duration, counts, rng, days)
    like = ~skip & (rng.random(n) < LIKE_RATE * (1 - r))
    dislike = skip & (rng.random(n) < DISLIKE_RATE * r)

    start = pd.Timestamp(year=int(items["release_year"].max()) + 1, month=1, day=1, tz="UTC")
    # A like comes halfway through the play, a dislike one second after the skip.
    kinds = (
        (np.ones(n, bool), np.where(skip, "skip", "play"), seconds),
        (like, "like", seconds + duration / 2),
        (dislike, "dislike", seconds + 1.0),
    )
    parts = [
        frames.interactions(user_ids[user_pos[m]], item[m], np.broadcast_to(kind, n)[m], np.ones(m.sum()),
                            start + pd.to_timedelta(np.rint(t[m] * 1000), unit="ms"))
        for m, kind, t in kinds
    ]
    events = pd.concat(parts, ignore_index=True)
    return events.sort_values(["timestamp", "user_id"], kind="stable", ignore_index=True)


def _exposures(plays: pd.DataFrame, link: pd.DataFrame, rng: np.random.Generator, events_per_user: int):
    """(user ids, exposures per user, user position of each exposure, its item id), grouped by user."""
    user_ids, user_start, user_rows = np.unique(plays["user_id"].to_numpy(), return_index=True, return_counts=True)
    weight = plays["weight"].to_numpy(dtype=float)
    user_total = np.add.reduceat(weight, user_start)
    activity = np.log1p(user_total)
    counts = np.maximum(1, np.rint(events_per_user * activity / activity.mean())).astype(np.int64)
    user_pos = np.repeat(np.arange(len(user_ids)), counts)
    n = len(user_pos)

    # Artist by play count: one searchsorted over the users' cumulative shares laid end to end
    # (user k's shares lie in (k, k+1]), so no per-user loop.
    row_user = np.repeat(np.arange(len(user_ids)), user_rows)
    total = np.cumsum(weight)
    within = total - (total[user_start] - weight[user_start])[row_user]
    cumkey = row_user + within / user_total[row_user]
    row = np.searchsorted(cumkey, user_pos + rng.random(n), side="right")
    # Rounding can put a draw just past a user's last share; keep it inside the user.
    row = np.minimum(row, (user_start + user_rows - 1)[user_pos])
    artist = plays["artist_id"].to_numpy()[row]

    # Track: uniform among the artist's tracks.
    by_artist = link.sort_values(["artist_id", "item_id"], ignore_index=True)
    a_ids, a_start, a_count = np.unique(by_artist["artist_id"].to_numpy(), return_index=True, return_counts=True)
    a = np.searchsorted(a_ids, artist)
    item = by_artist["item_id"].to_numpy()[a_start[a] + (rng.random(n) * a_count[a]).astype(np.int64)]
    return user_ids, counts, user_pos, item


def _distance_rank(plays: pd.DataFrame, link: pd.DataFrame, items: pd.DataFrame,
                   user_pos: np.ndarray, item_row: np.ndarray) -> np.ndarray:
    """Percentile (0..1] of each exposure's distance between the track and the user's taste."""
    z = _standardised(items)
    profile = pd.DataFrame(z[link["item_id"].to_numpy() - 1]).groupby(link["artist_id"].to_numpy()).mean()
    weighted = pd.DataFrame(profile.loc[plays["artist_id"]].to_numpy() * plays[["weight"]].to_numpy())
    by_user = plays["user_id"].to_numpy()
    taste = weighted.groupby(by_user).sum().to_numpy() / plays.groupby("user_id")["weight"].sum().to_numpy()[:, None]
    distance = np.linalg.norm(z[item_row] - taste[user_pos], axis=1)
    return pd.Series(distance).rank(pct=True).to_numpy()


def _session_seconds(skip: np.ndarray, duration: np.ndarray, counts: np.ndarray,
                     rng: np.random.Generator, days: int) -> np.ndarray:
    """Seconds from the window's start of each exposure (grouped by user, `counts` per user)."""
    n = len(skip)
    gap = np.where(skip, rng.uniform(*SKIP_SECONDS, n), duration)
    new_session = rng.random(n) < 1.0 / SESSION_EVENTS
    new_session[np.r_[0, np.cumsum(counts)[:-1]]] = True  # a user's first exposure opens a session
    session = np.cumsum(new_session) - 1
    elapsed = np.cumsum(gap) - gap
    offset = elapsed - elapsed[np.flatnonzero(new_session)][session]
    session_start = rng.uniform(0, days * 86400.0, session[-1] + 1)
    return session_start[session] + offset


def _standardised(items: pd.DataFrame) -> np.ndarray:
    x = items[list(TASTE_FEATURES)].to_numpy(dtype=float)
    z = (x - np.nanmean(x, axis=0)) / np.nanstd(x, axis=0)
    return np.nan_to_num(z)
