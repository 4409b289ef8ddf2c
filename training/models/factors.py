"""Scoring shared by factor models: score(u, i) = mu + b_u + b_i + p_u . q_i.

The item side is kept as one contiguous float32 matrix [q_i | b_i] so a user's scores over the
whole catalogue are a single matrix-vector product with [p_u | 1]; mu + b_u is a constant per
user and is added after, so it costs nothing per item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STATE_FILE = "factors.npz"


class FactorScorer:
    """Learned factors and biases, indexed by the model's user and item positions."""

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        user_bias: np.ndarray,
        item_bias: np.ndarray,
        global_mean: float,
    ):
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.user_bias = np.asarray(user_bias, dtype=np.float32)
        self.global_mean = np.float32(global_mean)
        self.item_matrix = np.ascontiguousarray(
            np.column_stack([item_factors, item_bias]).astype(np.float32, copy=False)
        )

    @property
    def item_factors(self) -> np.ndarray:
        return self.item_matrix[:, :-1]

    @property
    def item_bias(self) -> np.ndarray:
        return self.item_matrix[:, -1]

    def user_rows(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[p_u | 1] rows and mu + b_u per user position (zeros and mu for unknown users, -1)."""
        known = u >= 0
        rows = np.zeros((len(u), self.item_matrix.shape[1]), dtype=np.float32)
        rows[known, :-1] = self.user_factors[u[known]]
        rows[:, -1] = 1.0
        offset = np.full(len(u), self.global_mean, dtype=np.float32)
        offset[known] += self.user_bias[u[known]]
        return rows, offset

    def score_users(self, u: np.ndarray) -> np.ndarray:
        rows, offset = self.user_rows(u)
        scores = rows @ self.item_matrix.T
        scores += offset[:, None]
        return scores

    def score_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        rows, offset = self.user_rows(u)
        known_item = i >= 0
        out = offset.copy()
        out[known_item] += np.einsum("nd,nd->n", rows[known_item], self.item_matrix[i[known_item]])
        return out

    def save(self, path: Path) -> None:
        np.savez(
            path / STATE_FILE,
            user_factors=self.user_factors,
            item_factors=self.item_factors,
            user_bias=self.user_bias,
            item_bias=self.item_bias,
            global_mean=self.global_mean,
        )

    @classmethod
    def load(cls, path: Path) -> FactorScorer:
        with np.load(path / STATE_FILE) as z:
            return cls(z["user_factors"], z["item_factors"], z["user_bias"], z["item_bias"], float(z["global_mean"]))
