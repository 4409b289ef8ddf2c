"""Scoring a fitted model on held-out rows with one set of metric names for every model:
rmse, mae (models that predict ratings), ndcg_at_k, map_at_k, precision_at_k, recall_at_k,
hr_at_k, coverage, novelty, diversity; plus the tables behind the plots (by listener activity,
predicted vs actual)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.tracking import metric_name
from training import metrics
from training.base import Recommender
from training.evaluation import beyond_accuracy, ranking_row
from training.feedback import as_ratings, positives

ACTIVITY_BUCKETS = 4
BATCH_USERS = 256


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    by_activity: pd.DataFrame  # bucket, users, ndcg_at_k, hr_at_k[, rmse]
    predicted: pd.DataFrame  # actual, predicted (ratings) or label 0/1, predicted (ranking models)


def ranking_metrics(ranked: np.ndarray, truth: list[np.ndarray], k: int) -> tuple[dict[str, float], np.ndarray]:
    """The accuracy metrics of top-k lists against relevant sets, and the hit matrix behind them."""
    row = {metric_name(name): value for name, value in ranking_row(ranked, truth, k).items()}
    row.pop("map", None)  # map_at_k is the one figure compared across models
    return row, metrics.hit_matrix(ranked, truth)


def activity_buckets(users: np.ndarray, activity: pd.Series) -> pd.Series:
    """Each listener's bucket of activity (training interactions, quantiles), e.g. "21-45"."""
    counts = activity.reindex(users).fillna(0).to_numpy()
    cut = pd.qcut(counts, ACTIVITY_BUCKETS, duplicates="drop")
    labels = [f"{int(np.ceil(b.left))}-{int(b.right)}" for b in cut.categories]
    return pd.Series(pd.Categorical.from_codes(cut.codes, labels, ordered=True), index=users)


def activity_table(bucket_of: pd.Series, hits: np.ndarray, n_relevant: np.ndarray, k: int) -> pd.DataFrame:
    """nDCG@k and HR@k per activity bucket (rows of `hits` in `bucket_of`'s order)."""
    rows = []
    for bucket in bucket_of.cat.categories:
        mask = (bucket_of == bucket).to_numpy()
        rows.append(
            {
                "bucket": bucket,
                "users": int(mask.sum()),
                f"ndcg_at_{k}": metrics.ndcg_at_k(hits[mask], n_relevant[mask], k),
                f"hr_at_{k}": metrics.hit_rate_at_k(hits[mask], n_relevant[mask], k),
            }
        )
    return pd.DataFrame(rows)


def evaluate_fitted(
    model: Recommender, train: pd.DataFrame, valid: pd.DataFrame, items: pd.DataFrame, k: int, seed: int = 42
) -> Evaluation:
    truth = positives(valid)
    truth = truth[model.users.positions(truth["user_id"]) >= 0]
    grouped = truth.groupby("user_id")["item_id"].apply(np.asarray)
    users = grouped.index.to_numpy(np.int64)
    ranked = np.concatenate(
        [model.top_n(batch, k)[0] for batch in np.array_split(users, max(1, len(users) // BATCH_USERS))]
    )
    relevant = list(grouped.to_numpy())
    result, hits = ranking_metrics(ranked, relevant, k)
    result.update(beyond_accuracy(model, ranked, items))
    n_relevant = np.array([len(r) for r in relevant])
    bucket_of = activity_buckets(users, train.groupby("user_id").size())
    by_activity = activity_table(bucket_of, hits, n_relevant, k)

    if model.predicts_ratings:
        ratings = as_ratings(valid)
        pred = model.predict(ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy())
        result["rmse"] = metrics.rmse(ratings["rating"], pred)
        result["mae"] = metrics.mae(ratings["rating"], pred)
        predicted = pd.DataFrame({"actual": ratings["rating"].to_numpy(), "predicted": pred})
        squared = pd.Series((ratings["rating"].to_numpy() - pred) ** 2)
        rows_bucket = bucket_of.reindex(ratings["user_id"].to_numpy()).to_numpy()
        per_bucket = np.sqrt(squared.groupby(rows_bucket, observed=False).mean())
        by_activity["rmse"] = per_bucket.reindex(by_activity["bucket"]).to_numpy()
    else:
        predicted = _scores_vs_labels(model, truth, seed)
    return Evaluation(result, by_activity, predicted)


def _scores_vs_labels(model: Recommender, truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Scores of held-out positives beside as many random catalogue items (label 0)."""
    rng = np.random.default_rng(seed)
    users = truth["user_id"].to_numpy(np.int64)
    negatives = rng.choice(model.items.ids, size=len(users))
    score_pos = model.predict(users, truth["item_id"].to_numpy(np.int64))
    score_neg = model.predict(users, negatives)
    return pd.DataFrame(
        {"actual": np.r_[np.ones(len(users)), np.zeros(len(users))], "predicted": np.r_[score_pos, score_neg]}
    )
