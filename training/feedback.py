"""Turning the canonical interactions frame into what each kind of model learns from.

Explicit models want ratings; ranking models want positive (user, item) pairs; the content
profile wants signed, recency-weighted events. Ratings are kept as given. Implicit events are
mapped per user, so a heavy listener's counts and a light listener's counts mean the same:
a play count becomes 1..5 by its rank among that user's own play counts (log-scaled quantile),
a like is 5, a skip 2, a dislike 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.base import require_columns

IMPLICIT_RATING = {"like": 5.0, "skip": 2.0, "dislike": 1.0}
# Events that say the listener did not want the item: never positives, negative in profiles.
NEGATIVE_EVENTS = ("skip", "dislike")
# Signs and strengths of events in a listener's content profile.
PROFILE_WEIGHT = {"play": 1.0, "like": 2.0, "rating": 1.0, "skip": -0.5, "dislike": -1.5}


def _event_types(frame: pd.DataFrame) -> pd.Series:
    if "event_type" in frame.columns:
        return frame["event_type"].astype(str)
    return pd.Series("rating", index=frame.index)


def as_ratings(frame: pd.DataFrame) -> pd.DataFrame:
    """One rating per (user, item): user_id, item_id, rating (float, 1..5 for implicit events)."""
    require_columns(frame, ["user_id", "item_id", "value"])
    kind = _event_types(frame)
    out = frame[["user_id", "item_id"]].copy()
    out["rating"] = frame["value"].astype(np.float64)
    plays = kind == "play"
    if plays.any():
        logs = np.log1p(frame.loc[plays, "value"].astype(np.float64))
        quantile = logs.groupby(frame.loc[plays, "user_id"]).rank(method="average", pct=True)
        out.loc[plays, "rating"] = 1.0 + 4.0 * quantile
    for event, rating in IMPLICIT_RATING.items():
        out.loc[kind == event, "rating"] = rating
    # Several events on one pair (a play then a like): the last one wins, as the listener's latest word.
    if "timestamp" in frame.columns:
        out = out.assign(_t=frame["timestamp"]).sort_values("_t", kind="stable").drop(columns="_t")
    return out.drop_duplicates(["user_id", "item_id"], keep="last").reset_index(drop=True)


def positives(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct (user_id, item_id) pairs the user wanted: every rating, play and like, no skips or
    dislikes (the ranking protocols count every rated item as relevant, as published tables do)."""
    require_columns(frame, ["user_id", "item_id"])
    kind = _event_types(frame)
    keep = ~kind.isin(NEGATIVE_EVENTS)
    return frame.loc[keep, ["user_id", "item_id"]].drop_duplicates().reset_index(drop=True)


def profile_weights(frame: pd.DataFrame, half_life: float) -> pd.Series:
    """A signed weight per event for content profiles: the event's strength (PROFILE_WEIGHT, a
    play vs a skip) times exp(-ln2 * age / half_life), age counted in events back from the user's
    latest (so recency does not depend on how often a listener listens)."""
    kind = _event_types(frame)
    strength = kind.map(PROFILE_WEIGHT).fillna(1.0).to_numpy(np.float64)
    if "timestamp" in frame.columns:
        order = frame.assign(_t=frame["timestamp"]).sort_values(["user_id", "_t"], kind="stable")
    else:
        order = frame
    age = order.groupby("user_id").cumcount(ascending=False).reindex(frame.index).to_numpy(np.float64)
    return pd.Series(strength * np.exp(-np.log(2.0) * age / half_life), index=frame.index)
