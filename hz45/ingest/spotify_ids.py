"""Platform ids (int64) for the artists and tracks the ingestion writes.

A track already in the main DB with the same Spotify id, or an artist with the same name (as
`hz45.catalog.names.normalise` compares them; the artists table has no Spotify id), keeps its id,
which makes a rerun update rows instead of adding them. New ones are numbered from
INGEST_ID_BASE up: catalog datasets number their rows from 1 and never reach that far, so a
dataset load and an ingestion never overwrite each other's rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hz45.catalog.names import normalise
from hz45.stores import schema

INGEST_ID_BASE = 1 << 40
# Bound parameters per IN (...) query, well under SQLite's and MariaDB's limits.
LOOKUP_CHUNK = 500


def _next_id(conn: Connection, column: sa.Column) -> int:
    highest = conn.execute(sa.select(sa.func.max(column)).where(column >= INGEST_ID_BASE)).scalar()
    return INGEST_ID_BASE if highest is None else int(highest) + 1


def _assign(keys: Iterable[Hashable], existing: dict, next_id: int) -> tuple[np.ndarray, int]:
    new: dict = {}
    ids = []
    for key in keys:
        if key not in existing and key not in new:
            new[key] = next_id + len(new)
        ids.append(existing.get(key, new.get(key)))
    return np.asarray(ids, dtype=np.int64), len(new)


def track_ids(engine: Engine, spotify_ids: pd.Series) -> tuple[np.ndarray, int]:
    """The track_id of each Spotify id, and how many are new to the DB."""
    wanted = list(dict.fromkeys(spotify_ids))
    existing: dict[str, int] = {}
    t = schema.tracks.c
    with engine.connect() as conn:
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            for spotify_id, track_id in conn.execute(
                sa.select(t.spotify_id, t.track_id).where(t.spotify_id.in_(chunk)).order_by(t.track_id)
            ):
                existing.setdefault(spotify_id, track_id)
        next_id = _next_id(conn, t.track_id)
    return _assign(spotify_ids, existing, next_id)


def artist_ids(engine: Engine, names: pd.Series) -> tuple[np.ndarray, int]:
    """The artist_id of each artist name, and how many are new to the DB."""
    a = schema.artists.c
    existing: dict[str, int] = {}
    with engine.connect() as conn:
        for artist_id, name in conn.execute(sa.select(a.artist_id, a.name).order_by(a.artist_id)):
            existing.setdefault(normalise(name), artist_id)
        next_id = _next_id(conn, a.artist_id)
    return _assign(names.map(normalise), existing, next_id)
