"""Load a catalog Dataset into the main database's tables, idempotently.

The tables hold one dataset at a time: ids of two datasets would collide (user 1 of MovieLens is
not user 1 of Last.fm), so loading a different dataset over a loaded one is refused unless the
tables are cleared first (`replace=True`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tqdm import tqdm

from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES, Dataset
from hz45.errors import Hz45Error
from hz45.stores import schema
from hz45.stores.sql import get_engine
from hz45.stores.upsert import upsert

# Catalog item columns stored as they are in `tracks` (besides track_id, genres and the flag).
TRACK_COLUMNS = ("title", "artist_id", "spotify_id", "genre", "release_year", "popularity", *AUDIO_FEATURES)


@dataclass
class LoadSummary:
    dataset: str
    written: dict[str, int]
    # Rows in each table after the load (a rerun writes the same rows and leaves these as they were).
    counts: dict[str, int]
    seconds: float
    notes: dict = field(default_factory=dict)


def db_frames(dataset: Dataset, limit: int | None = None) -> dict[str, pd.DataFrame]:
    """The dataset as frames with the columns of the main tables, keyed by table name.

    With `limit`, keep the `limit` earliest interactions and only the users, tracks and artists
    they reference (a dataset without interactions keeps its first `limit` tracks).
    """
    inter, items, users, artists = dataset.interactions, dataset.items, dataset.users, dataset.artists
    bad = sorted(set(inter["event_type"].unique()) - set(EVENT_TYPES))
    if bad:
        raise Hz45Error(f"dataset {dataset.name}: unknown event_type '{bad[0]}' in interactions",
                        f"expected one of {', '.join(EVENT_TYPES)}")
    if limit is not None:
        if len(inter):
            inter = inter.sort_values("timestamp", kind="stable").head(limit)
            items = items[items["item_id"].isin(inter["item_id"])]
            users = users[users["user_id"].isin(inter["user_id"])]
        else:
            items = items.head(limit)
        artists = artists[artists["artist_id"].isin(items["artist_id"].dropna())]
    return {
        "artists": artists[["artist_id", "name"]].astype({"artist_id": "int64"}),
        "tracks": _tracks(items),
        "users": pd.DataFrame({"user_id": users["user_id"].to_numpy(), "attributes": _attributes(users)}),
        "interactions": inter.rename(columns={"item_id": "track_id"})[
            ["user_id", "track_id", "event_type", "value", "timestamp"]
        ],
    }


def load_dataset(dataset: Dataset, engine: Engine | None = None, limit: int | None = None,
                 replace: bool = False, progress: bool = True) -> LoadSummary:
    """Write `dataset` into artists, tracks, users and interactions (creating the tables first)."""
    engine = engine or get_engine()
    t0 = time.monotonic()
    schema.init_db(engine)
    with engine.begin() as conn:
        if replace:
            for table in reversed(schema.metadata.sorted_tables):
                conn.execute(table.delete())
        held = [r for (r,) in conn.execute(sa.select(schema.dataset_loads.c.dataset)) if r != dataset.name]
    if held:
        raise Hz45Error(f"the main DB already holds dataset '{held[0]}'",
                        f"run `hz45 db load {dataset.name} --replace` to clear it first")
    frames = db_frames(dataset, limit)
    written = {}
    with tqdm(total=sum(len(f) for f in frames.values()), desc=f"db load {dataset.name}", unit="row",
              unit_scale=True, disable=not progress) as bar:
        for name, frame in frames.items():
            bar.set_postfix_str(name)
            written[name] = upsert(schema.metadata.tables[name], frame, engine, progress=bar.update)
    counts = table_counts(engine)
    record = pd.DataFrame([{"dataset": dataset.name, "row_limit": limit, "counts": counts,
                            "loaded_at": datetime.now(timezone.utc)}])
    upsert(schema.dataset_loads, record, engine)
    return LoadSummary(dataset.name, written, counts, time.monotonic() - t0, dict(dataset.notes))


def table_counts(engine: Engine | None = None) -> dict[str, int]:
    engine = engine or get_engine()
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in schema.MAIN_TABLES}


def _tracks(items: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"track_id": items["item_id"].to_numpy()}, index=items.index)
    for col in TRACK_COLUMNS:
        if col in items:
            out[col] = items[col]
    out["title"] = out["title"].fillna("")
    out["genre"] = out["genre"].fillna("") if "genre" in out else ""
    out["genres"] = items["genres"].map(_join_genres) if "genres" in items else ""
    # Content-based models need the whole vector, so one unknown feature counts as missing.
    out["audio_features_missing"] = items[list(AUDIO_FEATURES)].isna().any(axis=1)
    return out


def _join_genres(value) -> str:
    if isinstance(value, str):
        return value
    try:
        return "|".join(str(g) for g in value)
    except TypeError:  # NaN or None: no genres
        return ""


def _attributes(users: pd.DataFrame) -> list[dict | None]:
    extra = users.drop(columns=["user_id"])
    if extra.columns.empty:
        return [None] * len(users)
    return extra.astype(object).where(extra.notna(), None).to_dict("records")
