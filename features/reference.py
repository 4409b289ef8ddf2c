"""The item and user features in plain pandas, on one machine's memory.

Written independently of the Spark jobs from the same definitions (see clean, clusters, pairs,
items and users), it is the reference the tests compare the Spark results with, and the baseline
the feature-pipeline benchmark measures the Spark jobs against.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from features.tables import AUDIO_RANGES, PROFILE_COLUMNS, Z_COLUMNS
from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES


def clean_tracks(tracks: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    out = tracks[tracks["item_id"].notna()].copy()
    for name, (low, high) in AUDIO_RANGES.items():
        values = out[name].astype("float64")
        out[name] = values.where((values >= low) & (values <= high))
    year = out["release_year"].astype("Float64")
    out["release_year"] = year.where((year >= 1800) & (year <= as_of.year)).astype("Int64")
    popularity = out["popularity"].astype("float64")
    out["popularity"] = popularity.where((popularity >= 0) & (popularity <= 100))
    for name in ("title", "artist_name", "genre"):
        text = out[name].astype("string").str.strip()
        out[name] = text.where(text != "")
    out["has_audio"] = out[list(AUDIO_FEATURES)].notna().any(axis=1)
    return out.reset_index(drop=True)


def clean_events(events: pd.DataFrame, item_ids: pd.Series, as_of: datetime,
                 rating_min: float, rating_max: float) -> pd.DataFrame:
    e = events.copy()
    e["event_type"] = e["event_type"].astype("string").str.strip().str.lower()
    ok = e[["user_id", "item_id", "event_type", "timestamp"]].notna().all(axis=1)
    ok &= e["event_type"].isin(EVENT_TYPES)
    ok &= e["timestamp"] < pd.Timestamp(as_of)
    ok &= e["value"].notna()
    rating = e["event_type"] == "rating"
    ok &= ~rating | e["value"].between(rating_min, rating_max)
    ok &= rating | (e["value"] > 0)
    ok &= e["item_id"].isin(item_ids)
    key = ["user_id", "item_id", "event_type", "timestamp"]
    return e[ok].groupby(key, as_index=False)["value"].max()


def standardise(tracks: pd.DataFrame) -> pd.DataFrame:
    """Z_COLUMNS for `tracks` (clean): mean-imputed, standardised with the sample standard
    deviation over the tracks with audio; NaN for tracks without audio."""
    audio = tracks.loc[tracks["has_audio"], list(AUDIO_FEATURES)]
    z = pd.DataFrame(np.nan, index=tracks.index, columns=list(Z_COLUMNS))
    for name, column in zip(AUDIO_FEATURES, Z_COLUMNS):
        values = audio[name]
        if values.notna().any():
            filled = values.fillna(values.mean())
            std = filled.std(ddof=1)
            z.loc[audio.index, column] = (filled - filled.mean()) / std if std > 0 else 0.0
    return z


def cluster(z: pd.DataFrame, k_min: int, k_max: int, sample_size: int, seed: int) -> tuple[pd.Series, int]:
    """KMeans (scikit-learn) on the tracks with a vector, k by silhouette on a sample."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    vectors = z.dropna(axis=1, how="all").dropna(axis=0)
    sample = vectors.sample(n=min(sample_size, len(vectors)), random_state=seed).to_numpy()
    scores = {}
    for k in range(k_min, min(k_max, len(sample) - 1) + 1):
        labels = KMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(sample)
        scores[k] = silhouette_score(sample, labels)
    best = max(scores, key=lambda k: (scores[k], -k))
    labels = KMeans(n_clusters=best, random_state=seed, n_init=1).fit_predict(vectors.to_numpy())
    return pd.Series(labels, index=vectors.index, dtype="Int64").reindex(z.index), best


def _plays(events: pd.DataFrame) -> pd.Series:
    return events["value"].where(events["event_type"] == "play", 0.0)


def _engagement(events: pd.DataFrame) -> pd.Series:
    kind = events["event_type"]
    return np.where(kind == "play", events["value"], np.where(kind.isin(["like", "rating"]), 1.0, 0.0))


def item_features(tracks: pd.DataFrame, events: pd.DataFrame, as_of: datetime, trend_days: int) -> pd.DataFrame:
    """`tracks` carries the Z_COLUMNS and `cluster`."""
    recent_from = pd.Timestamp(as_of - timedelta(days=trend_days))
    previous_from = pd.Timestamp(as_of - timedelta(days=2 * trend_days))
    plays = _plays(events)
    e = events.assign(
        play_count=plays,
        skip_count=(events["event_type"] == "skip").astype("int64"),
        plays_recent=plays.where(events["timestamp"] >= recent_from, 0.0),
        plays_previous=plays.where((events["timestamp"] >= previous_from) & (events["timestamp"] < recent_from), 0.0),
    )
    usage = e.groupby("item_id").agg(
        play_count=("play_count", "sum"), skip_count=("skip_count", "sum"), event_count=("user_id", "size"),
        listener_count=("user_id", "nunique"), plays_recent=("plays_recent", "sum"),
        plays_previous=("plays_previous", "sum"),
    )
    out = tracks[["item_id", "genre", "release_year", "popularity", "cluster", *Z_COLUMNS]].merge(
        usage, left_on="item_id", right_index=True, how="left")
    for column in usage.columns:
        out[column] = out[column].fillna(0)
    out["trend"] = np.log((1.0 + out["plays_recent"]) / (1.0 + out["plays_previous"]))
    return out.reset_index(drop=True)


def user_features(tracks: pd.DataFrame, events: pd.DataFrame, as_of: datetime, top_n: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(user features, cluster affinity, genre affinity); `tracks` carries Z_COLUMNS and `cluster`."""
    e = events.assign(plays=_plays(events), skips=(events["event_type"] == "skip").astype("int64"),
                      engagement=_engagement(events))
    users = e.groupby("user_id").agg(
        event_count=("item_id", "size"), play_count=("plays", "sum"), skip_count=("skips", "sum"),
        distinct_tracks=("item_id", "nunique"), engagement=("engagement", "sum"),
        first_seen=("timestamp", "min"), last_seen=("timestamp", "max"),
    )
    users["recency_days"] = (pd.Timestamp(as_of) - users["last_seen"]).dt.total_seconds() / 86_400
    per_pair = e.groupby(["user_id", "item_id"], as_index=False)["engagement"].sum()
    engaged = per_pair[per_pair["engagement"] > 0].merge(
        tracks[["item_id", "has_audio", "cluster", "genre", *Z_COLUMNS]], on="item_id")
    audio = engaged[engaged["has_audio"]]
    weights = audio["engagement"]
    weighted = audio[list(Z_COLUMNS)].mul(weights, axis=0).assign(_w=weights, user_id=audio["user_id"])
    sums = weighted.groupby("user_id").sum(min_count=1)
    profile = sums[list(Z_COLUMNS)].div(sums["_w"], axis=0)
    profile.columns = list(PROFILE_COLUMNS)
    by_cluster = _affinity(engaged, "cluster", top_n)
    by_genre = _affinity(engaged, "genre", top_n)
    out = users.join(profile, how="left")
    for name, table in (("cluster", by_cluster), ("genre", by_genre)):
        top = table[table["rank"] == 1].set_index("user_id")[[name, "share"]]
        top.columns = [f"top_{name}", f"top_{name}_share"]
        out = out.join(top, how="left")
    return out.reset_index(), by_cluster, by_genre


def _affinity(engaged: pd.DataFrame, column: str, top_n: int) -> pd.DataFrame:
    known = engaged[engaged[column].notna()]
    weight = known.groupby(["user_id", column], as_index=False)["engagement"].sum()
    weight["share"] = weight["engagement"] / weight.groupby("user_id")["engagement"].transform("sum")
    weight = weight.sort_values(["user_id", "share", column], ascending=[True, False, True])
    weight["rank"] = weight.groupby("user_id").cumcount() + 1
    return weight[weight["rank"] <= top_n][["user_id", column, "share", "rank"]].reset_index(drop=True)
