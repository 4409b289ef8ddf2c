"""Audio features the Spotify API no longer gives, taken from real track tables in the catalog.

A track without features gets those of the catalog row with its Spotify id; failing that, those
of the row with the same title credited to one of its artists (names compared as
`hz45.catalog.names.normalise` sees them). The rest stay unknown: values are never made up, and
the `features_source` column says where each track's features came from (None: nowhere).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hz45.catalog.base import AUDIO_FEATURES
from hz45.catalog.names import normalise

SOURCE_API = "api"
SOURCE_CATALOG_ID = "catalog_id"
SOURCE_CATALOG_NAME = "catalog_name"
# duration_ms comes with every track object, so it never needs filling.
FILLED = [f for f in AUDIO_FEATURES if f != "duration_ms"]


def _credits(items: pd.DataFrame) -> pd.Series:
    if "artist_names" in items:
        return items["artist_names"]
    return items["artist_name"].map(lambda name: [name] if name else [])


def _ranked(items: pd.DataFrame) -> pd.DataFrame:
    """Catalog rows with Spotify ids, the most complete first, so ties resolve the same way."""
    rows = items.dropna(subset=["spotify_id"]).assign(_known=items[FILLED].notna().sum(axis=1))
    rows = rows[rows["_known"] > 0].sort_values(["_known", "item_id"], ascending=[False, True])
    return rows.drop(columns="_known")


def _by_name(rows: pd.DataFrame) -> dict[tuple[str, str], int]:
    """(title, artist) key -> position in `rows` of the first (best) row with that key."""
    index: dict[tuple[str, str], int] = {}
    for position, (title, names) in enumerate(zip(rows["title"], _credits(rows))):
        if not isinstance(title, str):
            continue
        for name in names:
            index.setdefault((normalise(title), normalise(name)), position)
    return index


def fill_audio_features(tracks: pd.DataFrame, catalog_items: pd.DataFrame) -> pd.DataFrame:
    """`tracks` (spotify_id, title, artist_names, AUDIO_FEATURES, features_source) with the
    features of tracks whose source is None filled from `catalog_items` where a row matches."""
    out = tracks.copy()
    rows = _ranked(catalog_items)
    values = rows[FILLED].to_numpy(dtype=np.float64)
    by_id = pd.Series(np.arange(len(rows)), index=rows["spotify_id"].to_numpy())
    by_id = by_id[~by_id.index.duplicated()]
    by_name = _by_name(rows)

    for i, track in enumerate(out.itertuples(index=False)):
        if track.features_source is not None:
            continue
        source, position = None, by_id.get(track.spotify_id)
        if position is not None:
            source = SOURCE_CATALOG_ID
        else:
            keys = ((normalise(track.title), normalise(name)) for name in track.artist_names)
            position = next((by_name[k] for k in keys if k in by_name), None)
            source = SOURCE_CATALOG_NAME if position is not None else None
        if source is not None:
            out.iloc[i, [out.columns.get_loc(f) for f in FILLED]] = values[position]
            out.iloc[i, out.columns.get_loc("features_source")] = source
    return out
