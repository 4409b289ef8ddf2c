"""Rating models learned with scikit-surprise: SVD, SVD++ and KNNBaseline.

scikit-surprise does the learning; after `fit` the learned parameters are copied into numpy
arrays indexed by this package's user/item positions, so scoring a whole catalogue is a matrix
product (SVD, SVD++) or a vectorised neighbour aggregation (KNNBaseline), never a Python loop
over items. `predict` clips to the training rating scale, as surprise's `predict` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import surprise

from training.base import Recommender
from training.feedback import as_ratings
from training.models.factors import FactorScorer


def _trainset(train: pd.DataFrame, model: Recommender) -> tuple[surprise.Trainset, tuple[float, float]]:
    """A surprise Trainset whose raw ids are this model's user/item positions."""
    ratings = as_ratings(train)
    frame = pd.DataFrame(
        {
            "u": model.users.positions(ratings["user_id"]),
            "i": model.items.positions(ratings["item_id"]),
            "r": ratings["rating"].astype(float),
        }
    )
    scale = (float(frame["r"].min()), float(frame["r"].max()))
    if scale[0] == scale[1]:
        scale = (scale[0] - 1.0, scale[1])
    data = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=scale))
    return data.build_full_trainset(), scale


def _inner_to_positions(trainset: surprise.Trainset) -> tuple[np.ndarray, np.ndarray]:
    users = np.array([trainset.to_raw_uid(x) for x in range(trainset.n_users)], dtype=np.int64)
    items = np.array([trainset.to_raw_iid(x) for x in range(trainset.n_items)], dtype=np.int64)
    return users, items


class _RatingModel(Recommender):
    predicts_ratings = True
    rating_scale: tuple[float, float]

    def predict(self, user_ids, item_ids) -> np.ndarray:
        return np.clip(super().predict(user_ids, item_ids), *self.rating_scale).astype(np.float32)

    def _save_scale(self, path: Path) -> None:
        (path / "rating_scale.json").write_text(json.dumps(list(self.rating_scale)))

    def _load_scale(self, path: Path) -> None:
        self.rating_scale = tuple(json.loads((path / "rating_scale.json").read_text()))


class _FactorModel(_RatingModel):
    """SVD-family models: surprise learns, FactorScorer scores."""

    scorer: FactorScorer

    def _algorithm(self) -> surprise.AlgoBase:
        raise NotImplementedError

    def _fit(self, train, *, items, valid, callbacks) -> None:
        trainset, self.rating_scale = _trainset(train, self)
        algo = self._algorithm()
        algo.fit(trainset)
        self.scorer = self._scorer(algo, trainset)

    def _scorer(self, algo, trainset) -> FactorScorer:
        n_factors = algo.pu.shape[1]
        u_pos, i_pos = _inner_to_positions(trainset)
        pu = np.zeros((len(self.users), n_factors), dtype=np.float32)
        qi = np.zeros((len(self.items), n_factors), dtype=np.float32)
        bu = np.zeros(len(self.users), dtype=np.float32)
        bi = np.zeros(len(self.items), dtype=np.float32)
        pu[u_pos] = self._user_vectors(algo, trainset)
        qi[i_pos] = algo.qi
        if getattr(algo, "biased", True):
            bu[u_pos] = algo.bu
            bi[i_pos] = algo.bi
            mean = trainset.global_mean
        else:
            mean = 0.0
        return FactorScorer(pu, qi, bu, bi, mean)

    def _user_vectors(self, algo, trainset) -> np.ndarray:
        return algo.pu

    def score_users(self, u: np.ndarray) -> np.ndarray:
        return self.scorer.score_users(u)

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return self.scorer.score_pairs(u, i)

    def linear_rows(self) -> np.ndarray:
        return self.scorer.item_matrix

    def linear_query(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        return self.scorer.user_rows(np.array([u], dtype=np.int64))[0][0]

    def _save_state(self, path: Path) -> None:
        self.scorer.save(path)
        self._save_scale(path)

    def _load_state(self, path: Path) -> None:
        self.scorer = FactorScorer.load(path)
        self._load_scale(path)


class SVD(_FactorModel):
    """Biased matrix factorisation by SGD (Funk SVD as in scikit-surprise; its defaults)."""

    name = "svd"

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 20,
        biased: bool = True,
        lr_all: float = 0.005,
        reg_all: float = 0.02,
        init_std_dev: float = 0.1,
        seed: int = 42,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.biased = biased
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.init_std_dev = init_std_dev
        self.seed = seed

    def _algorithm(self) -> surprise.AlgoBase:
        return surprise.SVD(
            n_factors=self.n_factors,
            n_epochs=self.n_epochs,
            biased=self.biased,
            lr_all=self.lr_all,
            reg_all=self.reg_all,
            init_std_dev=self.init_std_dev,
            random_state=self.seed,
        )

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        out = super()._predict_pairs(u, i)
        if not self.biased:
            # Without biases surprise cannot score an unknown user or item and falls back to the mean.
            out[(u < 0) | (i < 0)] = self._unbiased_fallback
        return out

    def _fit(self, train, *, items, valid, callbacks) -> None:
        super()._fit(train, items=items, valid=valid, callbacks=callbacks)
        self._unbiased_fallback = np.float32(as_ratings(train)["rating"].mean())

    def _save_state(self, path: Path) -> None:
        super()._save_state(path)
        (path / "fallback.json").write_text(json.dumps(float(self._unbiased_fallback)))

    def _load_state(self, path: Path) -> None:
        super()._load_state(path)
        self._unbiased_fallback = np.float32(json.loads((path / "fallback.json").read_text()))


class SVDpp(_FactorModel):
    """SVD++: SVD plus implicit feedback (which items a user rated). A user's effective vector
    p_u + |N(u)|^-1/2 sum y_j is computed once at fit, so scoring is the same matrix product."""

    name = "svdpp"

    def __init__(
        self,
        n_factors: int = 20,
        n_epochs: int = 20,
        lr_all: float = 0.007,
        reg_all: float = 0.02,
        init_std_dev: float = 0.1,
        seed: int = 42,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.init_std_dev = init_std_dev
        self.seed = seed

    def _algorithm(self) -> surprise.AlgoBase:
        return surprise.SVDpp(
            n_factors=self.n_factors,
            n_epochs=self.n_epochs,
            lr_all=self.lr_all,
            reg_all=self.reg_all,
            init_std_dev=self.init_std_dev,
            random_state=self.seed,
            cache_ratings=True,
        )

    def _user_vectors(self, algo, trainset) -> np.ndarray:
        vectors = np.array(algo.pu, dtype=np.float64)
        for inner, rated in trainset.ur.items():
            js = [j for j, _ in rated]
            vectors[inner] += algo.yj[js].sum(axis=0) / np.sqrt(len(js))
        return vectors


class KNNBaseline(_RatingModel):
    """Neighbourhood model on baseline residuals (scikit-surprise's KNNBaseline, user-based MSD
    similarity by default). Catalogue scores aggregate the k most similar raters of every item
    at once with numpy, with surprise's own rule (only positive similarities contribute)."""

    name = "knn_baseline"

    def __init__(self, k: int = 40, min_k: int = 1, similarity: str = "msd", user_based: bool = True):
        self.k = k
        self.min_k = min_k
        self.similarity = similarity
        self.user_based = user_based

    def _fit(self, train, *, items, valid, callbacks) -> None:
        trainset, self.rating_scale = _trainset(train, self)
        algo = surprise.KNNBaseline(
            k=self.k,
            min_k=self.min_k,
            sim_options={"name": self.similarity, "user_based": self.user_based},
            verbose=False,
        )
        algo.fit(trainset)
        u_pos, i_pos = _inner_to_positions(trainset)
        n_u, n_i = len(self.users), len(self.items)
        self.user_bias = np.zeros(n_u, dtype=np.float32)
        self.item_bias = np.zeros(n_i, dtype=np.float32)
        self.user_bias[u_pos] = algo.bu
        self.item_bias[i_pos] = algo.bi
        self.global_mean = np.float32(trainset.global_mean)
        # Similarity between the "x" side (users when user-based) in this model's positions.
        x_pos = u_pos if self.user_based else i_pos
        n_x = n_u if self.user_based else n_i
        self.sim = np.zeros((n_x, n_x), dtype=np.float32)
        self.sim[np.ix_(x_pos, x_pos)] = algo.sim
        self.known_x = np.zeros(n_x, dtype=bool)
        self.known_x[x_pos] = True
        # Residuals r - b (b = mu + b_u + b_i) of every training rating, dense users x items.
        self.residual = np.zeros((n_u, n_i), dtype=np.float32)
        self.rated = np.zeros((n_u, n_i), dtype=bool)
        for inner_u, rated in trainset.ur.items():
            js = np.array([j for j, _ in rated])
            rs = np.array([r for _, r in rated], dtype=np.float32)
            pu, pi = u_pos[inner_u], i_pos[js]
            self.rated[pu, pi] = True
            self.residual[pu, pi] = rs - (self.global_mean + self.user_bias[pu] + self.item_bias[pi])

    def _correction(self, user: int, ys: np.ndarray) -> np.ndarray:
        """The neighbour term for one user position and many item positions: over the k most
        similar neighbours that have a rating, sum(sim * residual) / sum(sim), positive sims only."""
        if self.user_based:
            if not self.known_x[user]:
                return np.zeros(len(ys), dtype=np.float32)
            sims = np.where(self.rated[:, ys], self.sim[user][:, None], -np.inf)  # users x ys
            residual = self.residual[:, ys]
        else:
            rated_items = np.flatnonzero(self.rated[user])
            sims = self.sim[np.ix_(rated_items, ys)]  # the user's rated items x ys
            sims = np.where(self.known_x[ys][None, :], sims, -np.inf)
            residual = np.broadcast_to(self.residual[user, rated_items][:, None], sims.shape)
        if sims.shape[0] == 0:
            return np.zeros(len(ys), dtype=np.float32)
        k = min(self.k, sims.shape[0])
        top = np.argpartition(-sims, k - 1, axis=0)[:k]
        top_sim = np.take_along_axis(sims, top, axis=0)
        top_res = np.take_along_axis(residual, top, axis=0)
        positive = top_sim > 0
        weights = np.where(positive, top_sim, 0)
        sum_sim = weights.sum(axis=0)
        sum_res = (weights * top_res).sum(axis=0)
        enough = positive.sum(axis=0) >= self.min_k
        return np.divide(sum_res, sum_sim, out=np.zeros_like(sum_sim), where=(sum_sim > 0) & enough)

    def _baseline(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        out = np.full(len(u), self.global_mean, dtype=np.float32)
        out[u >= 0] += self.user_bias[u[u >= 0]]
        out[i >= 0] += self.item_bias[i[i >= 0]]
        return out

    def score_users(self, u: np.ndarray) -> np.ndarray:
        all_items = np.arange(len(self.items))
        out = np.empty((len(u), len(self.items)), dtype=np.float32)
        for row, user in enumerate(u):
            out[row] = self._baseline(np.full(len(all_items), user), all_items)
            if user >= 0:
                out[row] += self._correction(int(user), all_items)
        return out

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        out = self._baseline(u, i)
        both = (u >= 0) & (i >= 0)
        for user in np.unique(u[both]):
            rows = np.flatnonzero(both & (u == user))
            out[rows] += self._correction(int(user), i[rows])
        return out

    def _save_state(self, path: Path) -> None:
        np.savez(
            path / "knn.npz",
            user_bias=self.user_bias,
            item_bias=self.item_bias,
            global_mean=self.global_mean,
            sim=self.sim,
            known_x=self.known_x,
            residual=self.residual,
            rated=self.rated,
        )
        self._save_scale(path)

    def _load_state(self, path: Path) -> None:
        with np.load(path / "knn.npz") as z:
            for key in ("user_bias", "item_bias", "sim", "known_x", "residual", "rated"):
                setattr(self, key, z[key])
            self.global_mean = np.float32(z["global_mean"])
        self._load_scale(path)
