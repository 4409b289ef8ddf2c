"""A blend of rating predictors: rating = b + sum_c w_c * prediction_c.

The components are fitted on most of the training data; the intercept and weights are fitted by
ridge regression on the held-out rest (per-user stratified), then the components are fitted
again on all of it (with `refit`). The blend is the platform's most accurate rating predictor;
it does not rank any better than its components, so the hybrid is the ranking model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from training.base import ModelError
from training.feedback import as_ratings
from training.models.blend import Blend

DEFAULT_COMPONENTS: dict[str, dict[str, Any]] = {
    "svd": {"n_epochs": 40, "lr_all": 0.01, "reg_all": 0.1},
    "svdpp": {},
    "knn_baseline": {"similarity": "pearson_baseline", "user_based": False},
    "ncf": {"objective": "explicit"},
}


class RatingBlend(Blend):
    name = "rating_blend"
    predicts_ratings = True

    def __init__(
        self,
        components: Mapping[str, Mapping[str, Any]] | None = None,
        validation_share: float = 0.1,
        ridge: float = 1.0,
        refit: bool = True,
        seed: int = 42,
    ):
        self.components = {k: dict(v) for k, v in (components or DEFAULT_COMPONENTS).items()}
        self.validation_share = float(validation_share)
        self.ridge = float(ridge)
        self.refit = bool(refit)
        self.seed = int(seed)

    def _check_parts(self, parts) -> None:
        for name, part in parts.items():
            if not part.predicts_ratings:
                raise ModelError(f"rating_blend: component '{name}' does not predict ratings")

    def _fit_blend(self, parts, inner, valid) -> None:
        truth = as_ratings(valid)
        x = np.column_stack([p.predict(truth["user_id"], truth["item_id"]) for p in parts.values()])
        self.intercept, self.weights = _ridge(x.astype(np.float64), truth["rating"].to_numpy(np.float64), self.ridge)

    def _set_parts(self, parts, train, items) -> None:
        self.parts = parts
        ratings = as_ratings(train)["rating"]
        self.rating_scale = (float(ratings.min()), float(ratings.max()))

    def _combine(self, columns: list[np.ndarray]) -> np.ndarray:
        return (self.intercept + sum(w * c for w, c in zip(self.weights, columns, strict=True))).astype(np.float32)

    def predict(self, user_ids, item_ids) -> np.ndarray:
        self._check_fitted()
        columns = [p.predict(user_ids, item_ids) for p in self.parts.values()]
        return np.clip(self._combine(columns), *self.rating_scale).astype(np.float32)

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        users = np.where(u >= 0, self.users.ids[np.maximum(u, 0)], -1)
        items = np.where(i >= 0, self.items.ids[np.maximum(i, 0)], -1)
        return self._combine([p._predict_pairs(p.users.positions(users), p.items.positions(items)) for p in self.parts.values()])

    def score_users(self, u: np.ndarray) -> np.ndarray:
        users = np.where(u >= 0, self.users.ids[np.maximum(u, 0)], -1)
        columns = []
        for part in self.parts.values():
            raw = part.score_users(part.users.positions(users))
            align = part.items.positions(self.items.ids)
            columns.append(np.where(align >= 0, raw[:, np.maximum(align, 0)], part.predict([-1], [-1])[0]))
        return self._combine(columns)

    def _save_state(self, path: Path) -> None:
        self._save_parts(path)
        state = {"intercept": self.intercept, "weights": list(self.weights), "rating_scale": self.rating_scale}
        (path / "blend.json").write_text(json.dumps(state))

    def _load_state(self, path: Path) -> None:
        self.parts = self._load_parts(path)
        state = json.loads((path / "blend.json").read_text())
        self.intercept, self.weights = state["intercept"], state["weights"]
        self.rating_scale = tuple(state["rating_scale"])


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, list[float]]:
    """Least squares with an unpenalised intercept and an L2 penalty on the weights."""
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return float(ym - xm @ w), [float(v) for v in w]
