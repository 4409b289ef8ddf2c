"""Filling audio features from the real Spotify track tables: by id, then by title and artist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hz45.catalog import AUDIO_FEATURES, load
from hz45.catalog.names import normalise
from hz45.ingest.audio_fill import FILLED, SOURCE_API, SOURCE_CATALOG_ID, SOURCE_CATALOG_NAME, fill_audio_features


@pytest.fixture(scope="module")
def catalog_items() -> pd.DataFrame:
    return load("spotify-tracks").items


def _tracks(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["spotify_id", "title", "artist_names", "features_source"])
    for feature in AUDIO_FEATURES:
        frame[feature] = np.nan
    frame["duration_ms"] = 180000.0
    return frame


def _catalog_row(items: pd.DataFrame, spotify_id: str) -> pd.Series:
    (row,) = items.index[items["spotify_id"] == spotify_id]
    return items.loc[row]


def test_fill_by_id_then_by_name_and_flag_the_rest(catalog_items):
    by_title = catalog_items[catalog_items["title"].str.casefold() == "dynamite"]
    assert len(by_title) and "bts" not in {normalise(n) for ns in by_title["artist_names"] for n in ns}
    assert not catalog_items["spotify_id"].isin(["2bgIh0Y3hFW8cIHVaQFKno", "0t1kP63rueHleOhQkYSXFY"]).any()

    tracks = _tracks(
        [
            ("2VdSktBqFfkW7y6q5Ik4Z4", "Supernova", ["aespa"], None),
            ("2bgIh0Y3hFW8cIHVaQFKno", "DNA", ["BTS"], None),  # another release of a catalog track
            ("3Vx9rkPvB1SeBqZ8u0LkTt", "KILL  this Love", ["ＢＬＡＣＫＰＩＮＫ"], None),  # case, spacing, full width
            ("0t1kP63rueHleOhQkYSXFY", "Dynamite", ["BTS"], None),  # only other artists' Dynamite exists
            ("5eWcGfUCrVFMoYskyfkEPE", "Armageddon", ["aespa"], SOURCE_API),
        ]
    )
    filled = fill_audio_features(tracks, catalog_items)

    assert filled["features_source"].tolist() == [
        SOURCE_CATALOG_ID, SOURCE_CATALOG_NAME, SOURCE_CATALOG_NAME, None, SOURCE_API,
    ]
    supernova = _catalog_row(catalog_items, "2VdSktBqFfkW7y6q5Ik4Z4")
    np.testing.assert_allclose(filled.loc[0, FILLED].astype(float), supernova[FILLED].astype(float))
    dna = _catalog_row(catalog_items, "5SE57ljOIUJ1ybL9U6CuBH")
    np.testing.assert_allclose(filled.loc[1, FILLED].astype(float), dna[FILLED].astype(float))
    kill_this_love = _catalog_row(catalog_items, "18PergoIrGmRyeYxnaXJN2")
    np.testing.assert_allclose(filled.loc[2, FILLED].astype(float), kill_this_love[FILLED].astype(float))
    # Nothing is made up: the unmatched track and the track with API features are left as they were.
    assert filled.loc[3, FILLED].isna().all()
    assert filled.loc[4, FILLED].isna().all()
    assert (filled["duration_ms"] == 180000.0).all()


def test_a_name_shared_by_several_rows_takes_the_most_complete_one():
    catalog = pd.DataFrame(
        {
            "item_id": [1, 2, 3],
            "spotify_id": ["a" * 22, "b" * 22, "c" * 22],
            "title": ["Siren", "Siren", "Siren"],
            "artist_names": [["RIIZE"], ["RIIZE"], ["Other"]],
        }
    )
    for feature in FILLED:
        catalog[feature] = [np.nan, 0.5, 0.9]
    catalog.loc[0, "energy"] = 0.1  # row 1 knows one feature, row 2 all of them
    tracks = _tracks([("d" * 22, "Siren", ["RIIZE"], None)])
    filled = fill_audio_features(tracks, catalog)
    assert filled.loc[0, "features_source"] == SOURCE_CATALOG_NAME
    assert (filled.loc[0, FILLED] == 0.5).all()
