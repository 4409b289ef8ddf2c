"""The splits of the three evaluation protocols, deterministic by seed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from training.base import require_columns


def kfold(frame: pd.DataFrame, folds: int = 5, seed: int = 42) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(train, test) pairs: rows shuffled once, cut into `folds` near-equal parts, each part the
    test set once (scikit-surprise's KFold)."""
    if folds < 2:
        raise ValueError("folds must be at least 2")
    order = np.random.default_rng(seed).permutation(len(frame))
    for part in np.array_split(order, folds):
        test = np.zeros(len(frame), dtype=bool)
        test[part] = True
        yield frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)


def stratified_split(frame: pd.DataFrame, ratio: float = 0.75, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, a random `ratio` of their rows to train and the rest to test, as Microsoft
    recommenders' python_stratified_split: a uniform random key per row (numpy's legacy seeded
    generator), rows ordered by user then key, a row trains while rank / count <= ratio."""
    require_columns(frame, ["user_id", "item_id"])
    if not 0.0 < ratio < 1.0:
        raise ValueError("ratio must be between 0 and 1")
    key = np.random.RandomState(seed).rand(len(frame))
    data = frame.assign(_key=key).sort_values(["user_id", "_key"], kind="stable")
    groups = data.groupby("user_id", sort=False)
    share = (groups.cumcount() + 1) / groups["user_id"].transform("count")
    data = data.drop(columns="_key")
    return data[share <= ratio].reset_index(drop=True), data[share > ratio].reset_index(drop=True)


def leave_last_out(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction (by timestamp, the last row on ties) is the test row; users
    with a single interaction stay whole in train (the NCF paper's leave-one-out)."""
    require_columns(frame, ["user_id", "item_id", "timestamp"])
    data = frame.sort_values(["user_id", "timestamp"], kind="stable")
    last = ~data["user_id"].duplicated(keep="last")
    single = data.groupby("user_id")["user_id"].transform("count") == 1
    test = last & ~single
    return data[~test].reset_index(drop=True), data[test].reset_index(drop=True)


def sample_negatives(
    users: np.ndarray, interacted: dict[int, set[int]], item_ids: np.ndarray, n: int, seed: int
) -> np.ndarray:
    """users x n item ids each user never interacted with, drawn uniformly without replacement."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(users), n), dtype=np.int64)
    for row, user in enumerate(users):
        seen = interacted.get(int(user), set())
        if len(item_ids) - len(seen) < n:
            raise ValueError(f"user {user}: fewer than {n} items left to sample as negatives")
        chosen: list[int] = []
        while len(chosen) < n:
            draw = rng.choice(item_ids, size=2 * (n - len(chosen)), replace=False)
            for item in draw:
                if int(item) not in seen and item not in chosen:
                    chosen.append(int(item))
                    if len(chosen) == n:
                        break
        out[row] = chosen
    return out
