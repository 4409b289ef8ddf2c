"""A tiny, structured dataset for the model tests: users like the items of one genre, audio
features follow the genre, so every model has signal to find in seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hz45.catalog.base import AUDIO_FEATURES, Dataset

N_USERS, N_ITEMS, GENRES = 40, 60, ("rock", "jazz", "pop")


def tiny_dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    item_genre = np.arange(N_ITEMS) % len(GENRES)
    user_genre = np.arange(N_USERS) % len(GENRES)
    rows = []
    start = pd.Timestamp("2024-01-01", tz="UTC")
    for u in range(N_USERS):
        liked = np.flatnonzero(item_genre == user_genre[u])
        others = np.flatnonzero(item_genre != user_genre[u])
        picks = np.concatenate([rng.choice(liked, 12, replace=False), rng.choice(others, 4, replace=False)])
        for t, i in enumerate(rng.permutation(picks)):
            rating = 5.0 if item_genre[i] == user_genre[u] else 2.0
            rows.append((u + 1, i + 100, "rating", min(5.0, max(1.0, rating + rng.integers(-1, 1))), start + pd.Timedelta(hours=t)))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "value", "timestamp"])
    items = pd.DataFrame({"item_id": np.arange(N_ITEMS) + 100, "title": [f"song {i}" for i in range(N_ITEMS)],
                          "artist_name": "band", "genre": [GENRES[g] for g in item_genre],
                          "genres": [[GENRES[g]] for g in item_genre]})
    for n, col in enumerate(AUDIO_FEATURES):
        items[col] = item_genre * (n + 1) + rng.normal(0, 0.3, N_ITEMS)
    users = pd.DataFrame({"user_id": np.arange(N_USERS) + 1})
    return Dataset(name="tiny", interactions=interactions, items=items, users=users)


@pytest.fixture(scope="session")
def tiny() -> Dataset:
    return tiny_dataset()
