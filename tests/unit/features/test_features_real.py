"""The feature jobs on real datasets (MovieLens 100K; the Last.fm x Spotify music dataset), in
Spark local mode, checked against a pandas computation of the same features on the same rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from feature_inputs import output
from features import reference
from features.config import features_config
from features.jobs import build
from features.source import TRACK_COLUMNS
from features.tables import PROFILE_COLUMNS, Z_COLUMNS
from hz45 import catalog
from hz45.stores.sql import get_engine

ML_DATE = date(1998, 4, 22)  # the last day of MovieLens 100K
MUSIC_DATE = date(2025, 3, 1)  # the day before the music dataset's last events


def _as_of(run_date: date) -> datetime:
    return datetime.combine(run_date + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)


class Expected:
    """The pandas computation for one dataset and run date, given the clusters Spark chose."""

    def __init__(self, settings, name: str, run_date: date):
        self.as_of = _as_of(run_date)
        self.get = lambda table: output(settings, table, name, run_date)
        dataset = catalog.load(name)
        tracks = reference.clean_tracks(dataset.items[list(TRACK_COLUMNS)], self.as_of)
        self.events = reference.clean_events(dataset.interactions, tracks["item_id"], self.as_of, 1.0, 5.0)
        clusters = self.get("tracks")[["item_id", "cluster"]]
        self.tracks = pd.concat([tracks, reference.standardise(tracks)], axis=1).merge(clusters, on="item_id")
        self.items = reference.item_features(self.tracks, self.events, self.as_of, trend_days=7)
        self.users, self.by_cluster, self.by_genre = reference.user_features(self.tracks, self.events, self.as_of, 5)


def assert_same(got: pd.DataFrame, expected: pd.DataFrame, key: list[str]) -> None:
    assert len(got) == len(expected)
    got = got.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    for column in expected.columns:
        a, b = got[column], expected[column]
        if pd.api.types.is_datetime64_any_dtype(b):
            assert (a.dt.tz_convert("UTC") == b.dt.tz_convert("UTC")).all(), column
        elif pd.api.types.is_numeric_dtype(b) or pd.api.types.is_bool_dtype(b):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-9, equal_nan=True,
                                       err_msg=column)
        else:
            assert _values(a) == _values(b), column


def _values(column: pd.Series) -> list:
    return column.astype(object).where(column.notna(), None).tolist()


@pytest.fixture(scope="module")
def ml100k(settings, spark):
    report = build(settings, ML_DATE, "ml-100k", spark=spark)
    return report, Expected(settings, "ml-100k", ML_DATE)


@pytest.fixture(scope="module")
def music(settings, spark):
    report = build(settings, MUSIC_DATE, "lastfm-spotify", spark=spark)
    return report, Expected(settings, "lastfm-spotify", MUSIC_DATE)


def test_ml100k_item_and_user_features_match_pandas(ml100k):
    report, expected = ml100k
    assert report["rows"]["clean_events"] == 100_000 and report["k"] is None  # movies have no audio
    assert_same(expected.get("item_features"), expected.items, ["item_id"])
    assert_same(expected.get("user_features"), expected.users, ["user_id"])
    assert_same(expected.get("user_genre_affinity"), expected.by_genre, ["user_id", "genre"])
    assert expected.get("user_cluster_affinity").empty


def test_ml100k_training_set_is_the_ratings_with_the_protocol_splits(ml100k):
    report, expected = ml100k
    assert report["rating_source"] == "explicit"
    got = expected.get("ratings")
    ratings = expected.events.rename(columns={"value": "rating"})[["user_id", "item_id", "rating", "timestamp"]]
    assert_same(got[ratings.columns], ratings, ["user_id", "item_id"])
    assert (got["confidence"] == 1.0).all()
    # 5 folds of about a fifth each.
    shares = got["fold"].value_counts(normalize=True).sort_index()
    assert list(shares.index) == [0, 1, 2, 3, 4] and (shares - 0.2).abs().max() < 0.01
    # 75/25 per user: a row trains while rank / count <= 0.75, so floor(0.75 n) train rows.
    per_user = got.groupby("user_id").agg(n=("item_id", "size"), train=("holdout", lambda s: (s == "train").sum()))
    assert (per_user["train"] == np.floor(0.75 * per_user["n"] + 1e-9)).all()
    # Leave-last-out: each user's test row is their latest.
    test = got[got["leave_last_out"] == "test"].set_index("user_id")["timestamp"]
    latest = got.groupby("user_id")["timestamp"].max()
    assert len(test) == len(latest) and (test.sort_index() == latest.sort_index()).all()


def test_ml100k_charts_match_pandas(ml100k):
    _, expected = ml100k
    top = expected.items[expected.items["event_count"] > 0].sort_values(
        ["genre", "play_count", "event_count", "item_id"], ascending=[True, False, False, True])
    top = top[top["genre"].notna()].groupby("genre").head(20)
    got = expected.get("chart_top_genre")
    assert_same(got[["genre", "item_id", "event_count"]], top[["genre", "item_id", "event_count"]], ["genre", "item_id"])
    assert (got.sort_values(["genre", "rank"]).groupby("genre")["event_count"].is_monotonic_decreasing).all()
    last_day = expected.events[expected.events["timestamp"] >= pd.Timestamp(expected.as_of - timedelta(hours=24))]
    hourly = last_day.groupby([last_day["timestamp"].dt.floor("h").rename("hour"), "item_id"]).size()
    hourly = hourly.rename("event_count").reset_index()
    assert_same(expected.get("chart_hourly_plays")[["hour", "item_id", "event_count"]], hourly, ["hour", "item_id"])


def test_music_audio_is_standardised_and_each_track_in_its_nearest_cluster(music, settings):
    report, expected = music
    got = expected.get("tracks")
    assert_same(got[["item_id", *Z_COLUMNS]], expected.tracks[["item_id", *Z_COLUMNS]], ["item_id"])
    silhouettes = {int(k): v for k, v in report["silhouettes"].items()}
    options = features_config(settings).clusters
    assert set(silhouettes) == set(range(options.k_min, options.k_max + 1))
    assert report["k"] == max(silhouettes, key=silhouettes.get)
    centers = expected.get("cluster_centers").sort_values("cluster")
    assert len(centers) == report["k"] and centers["size"].sum() == got["has_audio"].sum()
    with_audio = got[got["has_audio"]]
    distances = ((with_audio[list(Z_COLUMNS)].to_numpy()[:, None, :] - centers[list(Z_COLUMNS)].to_numpy()[None]) ** 2).sum(-1)
    assert (distances.argmin(axis=1) == with_audio["cluster"].to_numpy()).mean() > 0.999


def test_music_item_and_user_features_match_pandas(music):
    report, expected = music
    assert report["rows"]["item_features"] == len(expected.tracks)
    assert_same(expected.get("item_features"), expected.items, ["item_id"])
    assert expected.items["trend"].abs().sum() > 0  # the trend windows hold plays
    users = expected.get("user_features")
    assert_same(users, expected.users, ["user_id"])
    assert users[list(PROFILE_COLUMNS)].notna().all(axis=None)
    assert_same(expected.get("user_cluster_affinity"), expected.by_cluster, ["user_id", "cluster"])
    assert_same(expected.get("user_genre_affinity"), expected.by_genre, ["user_id", "genre"])


def test_music_implicit_ratings_are_scaled_per_user(music):
    report, expected = music
    assert report["rating_source"] == "implicit"
    plays = expected.events[expected.events["event_type"] == "play"]
    pairs = plays.groupby(["user_id", "item_id"], as_index=False).agg(plays=("value", "sum"), timestamp=("timestamp", "max"))
    pairs["rating"] = 1.0 + 4.0 * pairs.groupby("user_id")["plays"].rank(method="average", pct=True)
    pairs["confidence"] = 1.0 + 40.0 * np.log1p(pairs["plays"] / 1.0)
    got = expected.get("ratings")
    assert_same(got[pairs.columns], pairs, ["user_id", "item_id"])


def test_music_main_db_tables_hold_the_store_rows(music, settings):
    _, expected = music
    with get_engine(settings=settings).connect() as conn:
        for table, key in (("item_features", ["item_id"]), ("user_features", ["user_id"]),
                           ("chart_top_cluster", ["cluster", "rank"])):
            rows = pd.read_sql(sa.text(f"select * from {table} where dataset = 'lastfm-spotify' "
                                       f"and run_date = '{MUSIC_DATE}'"), conn)
            stored = expected.get(table)
            assert not stored.empty
            assert_same(rows[stored.columns.drop(["first_seen", "last_seen"], errors="ignore")],
                        stored.drop(columns=["first_seen", "last_seen"], errors="ignore"), key)
