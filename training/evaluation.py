"""The three evaluation protocols of DESIGN.md. Each takes an unfitted model (fitted here on the
protocol's training part, clones for each fold) and a Dataset, and returns a result table."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from hz45.catalog.base import AUDIO_FEATURES, Dataset
from training import metrics
from training.base import Recommender
from training.feedback import as_ratings, positives
from training.splits import kfold, leave_last_out, sample_negatives, stratified_split


def evaluate_rating_cv(model: Recommender, dataset: Dataset, folds: int = 5, seed: int = 42) -> pd.DataFrame:
    """Rating prediction, k-fold cross-validation (scikit-surprise's benchmark): one row per fold
    and a `mean` row, with rmse, mae and fit/test seconds."""
    if not model.predicts_ratings:
        raise ValueError(f"{type(model).__name__} ranks items but does not predict ratings")
    ratings = as_ratings(dataset.interactions).rename(columns={"rating": "value"})
    rows = []
    for fold, (train, test) in enumerate(kfold(ratings, folds, seed)):
        fitted, fit_s = _fit(model.clone(), train, dataset)
        start = time.perf_counter()
        pred = fitted.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy())
        test_s = time.perf_counter() - start
        rows.append(
            {
                "fold": str(fold + 1),
                "rmse": metrics.rmse(test["value"], pred),
                "mae": metrics.mae(test["value"], pred),
                "fit_s": fit_s,
                "test_s": test_s,
            }
        )
    return _with_mean(_table(model, dataset, "rating_cv", rows))


def evaluate_ranking(
    model: Recommender, dataset: Dataset, k: int = 10, ratio: float = 0.75, seed: int = 42
) -> pd.DataFrame:
    """Top-k ranking on a per-user stratified split (Microsoft recommenders' benchmark): seen items
    removed, every held-out item relevant. One row: map, map@k, ndcg@k, precision@k, recall@k,
    hr@k, coverage, novelty, diversity (on audio features where the items have them)."""
    train, test = stratified_split(dataset.interactions, ratio, seed)
    fitted, fit_s = _fit(model, train, dataset)
    relevant = positives(test)
    users = relevant["user_id"].unique()
    start = time.perf_counter()
    ranked = np.concatenate([fitted.top_n(batch, k)[0] for batch in np.array_split(users, max(1, len(users) // 256))])
    test_s = time.perf_counter() - start
    truth = relevant.groupby("user_id")["item_id"].apply(np.asarray)
    row = ranking_row(ranked, [truth[u] for u in users], k)
    row.update(beyond_accuracy(fitted, ranked, dataset.items))
    row.update({"users": len(users), "fit_s": fit_s, "test_s": test_s})
    return _table(model, dataset, "ranking", [row])


def evaluate_leave_one_out(
    model: Recommender, dataset: Dataset, k: int = 10, negatives: int = 99, seed: int = 42
) -> pd.DataFrame:
    """Leave-one-out (the NCF paper): each user's latest interaction is held out and ranked among
    `negatives` items the user never interacted with; HR@k and NDCG@k. Ties with a negative count
    against the held-out item."""
    train, test = leave_last_out(dataset.interactions)
    fitted, fit_s = _fit(model, train, dataset)
    interacted = dataset.interactions.groupby("user_id")["item_id"].apply(set).to_dict()
    catalogue = fitted.items.ids
    users = test["user_id"].to_numpy(np.int64)
    negs = sample_negatives(users, interacted, catalogue, negatives, seed)
    start = time.perf_counter()
    candidates = np.column_stack([test["item_id"].to_numpy(np.int64), negs])
    scores = fitted.predict(np.repeat(users, negatives + 1), candidates.reshape(-1)).reshape(candidates.shape)
    test_s = time.perf_counter() - start
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)  # 0-based position of the held-out item
    hits = np.zeros((len(users), k), dtype=bool)
    hits[rank < k, rank[rank < k]] = True
    ones = np.ones(len(users))
    row = {
        f"hr@{k}": metrics.hit_rate_at_k(hits, ones, k),
        f"ndcg@{k}": metrics.ndcg_at_k(hits, ones, k),
        "users": len(users),
        "fit_s": fit_s,
        "test_s": test_s,
    }
    return _table(model, dataset, "leave_one_out", [row])


def ranking_row(ranked: np.ndarray, relevant: list[np.ndarray], k: int) -> dict[str, float]:
    """The accuracy metrics of one ranking table row from top-k lists and relevant sets."""
    hits = metrics.hit_matrix(ranked, relevant)
    n_rel = np.array([len(r) for r in relevant])
    return {
        "map": metrics.map_full(hits, n_rel, k),
        f"map@{k}": metrics.map_at_k(hits, n_rel, k),
        f"ndcg@{k}": metrics.ndcg_at_k(hits, n_rel, k),
        f"precision@{k}": metrics.precision_at_k(hits, n_rel, k),
        f"recall@{k}": metrics.recall_at_k(hits, n_rel, k),
        f"hr@{k}": metrics.hit_rate_at_k(hits, n_rel, k),
    }


def beyond_accuracy(fitted: Recommender, ranked: np.ndarray, items: pd.DataFrame) -> dict[str, float]:
    """Coverage, novelty, and intra-list diversity on standardised audio features (NaN where the
    catalogue has no audio features)."""
    positions = fitted.items.positions(ranked.reshape(-1)).reshape(ranked.shape)
    item_users = np.asarray(fitted.seen.sum(axis=0)).ravel()
    out = {
        "coverage": metrics.coverage(positions, len(fitted.items)),
        "novelty": metrics.novelty(positions, item_users, len(fitted.users)),
        "diversity": float("nan"),
    }
    present = [c for c in AUDIO_FEATURES if c in items.columns]
    audio = items.set_index("item_id").reindex(fitted.items.ids)[present].astype(np.float64)
    if present and audio.notna().all(axis=1).mean() > 0.5:
        values = audio.fillna(audio.mean()).to_numpy()
        values = (values - values.mean(axis=0)) / np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)
        out["diversity"] = metrics.intra_list_diversity(positions, values)
    return out


def _fit(model: Recommender, train: pd.DataFrame, dataset: Dataset) -> tuple[Recommender, float]:
    start = time.perf_counter()
    model.fit(train, items=dataset.items)
    return model, time.perf_counter() - start


def _table(model: Recommender, dataset: Dataset, protocol: str, rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    table.insert(0, "model", model.name)
    table.insert(0, "dataset", dataset.name)
    table.insert(0, "protocol", protocol)
    return table


def _with_mean(table: pd.DataFrame) -> pd.DataFrame:
    mean = table.select_dtypes("number").mean().to_dict()
    mean.update({c: table[c].iloc[0] for c in ("protocol", "dataset", "model")}, fold="mean")
    return pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
