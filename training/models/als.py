"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren and Volinsky
2008, "iALS"): every (user, item) cell is a 0/1 preference with confidence 1 + alpha * strength,
where strength is 1 per positive interaction (log(1 + count) for play counts) and skipped or
disliked items are left out.

It is the collaborative component that ranks well and still scales: it learns factors, so a
catalogue is scored by one matrix product (training.models.factors), for any catalogue size.
Each half-step solves one small (factors x factors) system per user or item; the shared Gram
matrix Y'Y is computed once per half-step, so the cost grows with interactions, not users x items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from training.base import Recommender
from training.feedback import NEGATIVE_EVENTS
from training.models.factors import FactorScorer


def confidence_matrix(model: Recommender, train: pd.DataFrame, alpha: float) -> sparse.csr_matrix:
    """users x items, alpha * strength where the user wanted the item (the '+1' is implicit)."""
    kind = train["event_type"].astype(str) if "event_type" in train.columns else pd.Series("rating", index=train.index)
    keep = ~kind.isin(NEGATIVE_EVENTS)
    rows = train.loc[keep]
    strength = np.where(kind[keep] == "play", np.log1p(rows["value"].astype(np.float64).clip(lower=1.0)), 1.0)
    u = model.users.positions(rows["user_id"])
    i = model.items.positions(rows["item_id"])
    m = sparse.csr_matrix((alpha * strength, (u, i)), shape=(len(model.users), len(model.items)))
    m.sum_duplicates()
    return m


def _half_step(conf: sparse.csr_matrix, fixed: np.ndarray, reg: float) -> np.ndarray:
    """Solve every row's factors given the other side's `fixed` factors."""
    gram = fixed.T @ fixed
    eye = reg * np.eye(fixed.shape[1])
    out = np.zeros((conf.shape[0], fixed.shape[1]))
    for row in range(conf.shape[0]):
        lo, hi = conf.indptr[row], conf.indptr[row + 1]
        if lo == hi:
            continue
        cols, c = conf.indices[lo:hi], conf.data[lo:hi]
        y = fixed[cols]
        a = gram + (y.T * c) @ y + eye
        b = y.T @ (1.0 + c)
        out[row] = np.linalg.solve(a, b)
    return out


class ImplicitALS(Recommender):
    name = "als"

    def __init__(self, factors: int = 32, iterations: int = 15, alpha: float = 5.0, reg: float = 50.0, seed: int = 42):
        self.factors = int(factors)
        self.iterations = int(iterations)
        self.alpha = float(alpha)
        self.reg = float(reg)
        self.seed = int(seed)

    def _fit(self, train, *, items, valid, callbacks) -> None:
        conf = confidence_matrix(self, train, self.alpha)
        conf_t = conf.T.tocsr()
        rng = np.random.default_rng(self.seed)
        user_f = rng.normal(0, 0.01, (len(self.users), self.factors))
        item_f = rng.normal(0, 0.01, (len(self.items), self.factors))
        for _ in range(self.iterations):
            user_f = _half_step(conf, item_f, self.reg)
            item_f = _half_step(conf_t, user_f, self.reg)
        zeros_u = np.zeros(len(self.users))
        self.scorer = FactorScorer(user_f, item_f, zeros_u, np.zeros(len(self.items)), 0.0)

    def fold_in(self, item_positions: np.ndarray) -> np.ndarray:
        """The factors a user with these (positive) items would get: one least-squares solve
        against the fixed item factors, the same step training takes for every user."""
        y = self.scorer.item_factors
        cols = np.unique(item_positions[item_positions >= 0])
        if not hasattr(self, "_gram"):  # the same for every request: computed once
            y64 = y.astype(np.float64)
            self._gram = y64.T @ y64 + self.reg * np.eye(self.factors)
        gram = self._gram
        if len(cols) == 0:
            return np.zeros(self.factors, dtype=np.float32)
        yc = y[cols].astype(np.float64)
        a = gram + self.alpha * yc.T @ yc
        b = (1.0 + self.alpha) * yc.sum(axis=0)
        return np.linalg.solve(a, b).astype(np.float32)

    def score_request(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        if not len(context):
            return self.score_users(np.array([u], dtype=np.int64))[0]
        return self.scorer.item_factors @ self._request_factors(u, context, skipped)

    def _request_factors(self, u: int, context: Sequence[int], skipped: Sequence[int]) -> np.ndarray:
        """The user's factors with the context folded in (skipped tracks left out)."""
        history = self.seen.indices[self.seen.indptr[u] : self.seen.indptr[u + 1]] if u >= 0 else np.empty(0, int)
        items = np.concatenate([history, self.items.positions(list(context))])
        items = np.setdiff1d(items, self.items.positions(list(skipped)))
        return self.fold_in(items)

    def linear_rows(self) -> np.ndarray:
        """[item factors | popularity]: the last column is what a listener never seen scores by."""
        return np.column_stack([self.scorer.item_factors, self.cold_scores()]).astype(np.float32)

    def linear_query(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        if len(context):
            return np.append(self._request_factors(u, context, skipped), 0.0)
        if u < 0:
            return np.append(np.zeros(self.factors), 1.0)
        return np.append(self.scorer.user_factors[u], 0.0)

    def score_users(self, u: np.ndarray) -> np.ndarray:
        scores = self.scorer.score_users(u)
        scores[u < 0] = self.cold_scores()
        return scores

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return self.scorer.score_pairs(u, i)

    def _save_state(self, path: Path) -> None:
        self.scorer.save(path)

    def _load_state(self, path: Path) -> None:
        self.scorer = FactorScorer.load(path)
