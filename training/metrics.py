"""Metrics, defined as the published tables this project compares with define them.

Ranking metrics follow Microsoft `recommenders` (python_evaluation): binary relevance, every
held-out item of a user is relevant, averages over the users that have held-out items.
- precision@k = hits in the top k / k
- recall@k    = hits in the top k / relevant items
- nDCG@k      = sum over hits of 1/log(1 + rank) / sum_{r=1..min(k, relevant)} 1/log(1 + r)
- MAP         = sum over hits of (hits so far / rank) / relevant items ("map" in that module,
                the figure in its benchmark table); MAP@k divides by min(relevant, k) instead
- HR@k        = 1 if any relevant item is in the top k (with one relevant item, as in
                leave-one-out, nDCG@k is the NCF paper's log(2) / log(rank + 1))

Every ranking function takes `hits`, a boolean matrix users x k (True where the item at that rank
is relevant), and `n_relevant` per user, so the protocol decides what is relevant once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rmse(y_true, y_pred) -> float:
    err = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(err**2)))


def mae(y_true, y_pred) -> float:
    err = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(err)))


def hit_matrix(ranked: np.ndarray, relevant: Sequence[np.ndarray]) -> np.ndarray:
    """users x k booleans: is ranked[u, r] among relevant[u]."""
    ranked = np.atleast_2d(ranked)
    return np.array([np.isin(row, rel) for row, rel in zip(ranked, relevant, strict=True)], dtype=bool).reshape(
        ranked.shape
    )


def _checked(hits: np.ndarray, n_relevant) -> tuple[np.ndarray, np.ndarray]:
    hits = np.atleast_2d(np.asarray(hits, dtype=bool))
    n_relevant = np.asarray(n_relevant, dtype=np.float64).reshape(-1)
    if len(n_relevant) != hits.shape[0]:
        raise ValueError("hits and n_relevant differ in number of users")
    if (n_relevant < 1).any():
        raise ValueError("every evaluated user needs at least one relevant item")
    return hits, n_relevant


def precision_at_k(hits, n_relevant, k: int) -> float:
    hits, _ = _checked(hits, n_relevant)
    return float(np.mean(hits[:, :k].sum(axis=1) / k))


def recall_at_k(hits, n_relevant, k: int) -> float:
    hits, n_relevant = _checked(hits, n_relevant)
    return float(np.mean(hits[:, :k].sum(axis=1) / n_relevant))


def hit_rate_at_k(hits, n_relevant, k: int) -> float:
    hits, _ = _checked(hits, n_relevant)
    return float(np.mean(hits[:, :k].any(axis=1)))


def ndcg_at_k(hits, n_relevant, k: int) -> float:
    hits, n_relevant = _checked(hits, n_relevant)
    hits = hits[:, :k]
    discount = 1.0 / np.log(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * discount).sum(axis=1)
    ideal_discount = np.cumsum(1.0 / np.log(np.arange(2, k + 2)))
    idcg = ideal_discount[np.minimum(n_relevant, k).astype(int) - 1]
    return float(np.mean(dcg / idcg))


def _precision_sums(hits: np.ndarray) -> np.ndarray:
    ranks = np.arange(1, hits.shape[1] + 1)
    return (np.cumsum(hits, axis=1) / ranks * hits).sum(axis=1)


def map_full(hits, n_relevant, k: int) -> float:
    """MAP as Microsoft recommenders' `map` (their table's MAP): normalised by all relevant items."""
    hits, n_relevant = _checked(hits, n_relevant)
    return float(np.mean(_precision_sums(hits[:, :k]) / n_relevant))


def map_at_k(hits, n_relevant, k: int) -> float:
    """MAP@k as Microsoft recommenders' `map_at_k`: normalised by min(relevant, k)."""
    hits, n_relevant = _checked(hits, n_relevant)
    return float(np.mean(_precision_sums(hits[:, :k]) / np.minimum(n_relevant, k)))


def coverage(ranked: np.ndarray, n_catalogue: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    ranked = np.asarray(ranked)
    return float(len(np.unique(ranked[ranked >= 0])) / n_catalogue) if n_catalogue else 0.0


def intra_list_diversity(ranked_positions: np.ndarray, features: np.ndarray) -> float:
    """Mean pairwise cosine distance between the items of each list, on item feature vectors
    (rows of `features`, e.g. standardised audio features), averaged over lists."""
    ranked_positions = np.atleast_2d(ranked_positions)
    if ranked_positions.shape[1] < 2:
        return 0.0
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = np.divide(features, norms, out=np.zeros_like(features, dtype=np.float64), where=norms > 0)
    vecs = unit[ranked_positions]  # lists x k x d
    sim = np.einsum("lkd,lmd->lkm", vecs, vecs)
    k = ranked_positions.shape[1]
    off_diagonal = sim.sum(axis=(1, 2)) - np.einsum("lkk->l", sim)
    return float(np.mean(1.0 - off_diagonal / (k * (k - 1))))


def novelty(ranked_positions: np.ndarray, item_users: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2(p) of recommended items, p = share of training users who
    interacted with the item (items nobody touched count as one user)."""
    ranked_positions = np.asarray(ranked_positions)
    counts = np.maximum(np.asarray(item_users, dtype=np.float64)[ranked_positions], 1.0)
    return float(np.mean(-np.log2(counts / n_users)))
