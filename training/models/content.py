"""Content-based recommendation: cosine similarity of item attributes.

An item's vector is its standardised audio features (where the catalogue has them) and a one-hot
of its genres scaled by `genre_weight`, normalised to unit length, so a dot product is the cosine.
Each item's nearest items are precomputed at fit (catalogues up to `precompute_limit` items;
larger ones are answered by one matrix-vector product on demand).

A listener's profile is the weighted sum of the vectors of their events: the event's strength
and sign (a play or like pulls towards the track, a skip or dislike pushes away) times a recency
decay with `half_life` events (training.feedback.profile_weights). Recent context tracks passed
to `recommend` are added on top with weight `context_weight`, so the list follows what the
listener is playing now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from hz45.catalog.base import AUDIO_FEATURES
from training.base import ModelError, Recommender, top_k_indices
from training.feedback import profile_weights

STATE_FILE = "content.npz"
# An audio column is used when at least this share of items has it.
MIN_AUDIO_COVERAGE = 0.5


def item_vectors(items: pd.DataFrame, genre_weight: float) -> tuple[np.ndarray, list[str]]:
    """Unit-length attribute vectors (float32, one row per item in `items` order) and the
    feature names."""
    audio = [c for c in AUDIO_FEATURES if c in items.columns and items[c].notna().mean() >= MIN_AUDIO_COVERAGE]
    blocks, names = [], []
    if audio:
        values = items[audio].astype(np.float64)
        values = values.fillna(values.mean())
        std = values.std(ddof=0).replace(0.0, 1.0)
        blocks.append(((values - values.mean()) / std).to_numpy())
        names += audio
    genres = _genre_lists(items)
    vocabulary = sorted({g for gs in genres for g in gs})
    if vocabulary:
        col = {g: n for n, g in enumerate(vocabulary)}
        onehot = np.zeros((len(items), len(vocabulary)))
        for row, gs in enumerate(genres):
            for g in gs:
                onehot[row, col[g]] = 1.0
        # A genre block of unit length per item, so genre_weight is comparable across items.
        counts = np.maximum(onehot.sum(axis=1, keepdims=True), 1.0)
        blocks.append(genre_weight * np.sqrt(len(audio) or 1) * onehot / np.sqrt(counts))
        names += [f"genre={g}" for g in vocabulary]
    if not blocks:
        raise ModelError("items frame: no audio features and no genres to compare items by")
    x = np.hstack(blocks)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return x.astype(np.float32), names


def _genre_lists(items: pd.DataFrame) -> list[list[str]]:
    if "genres" in items.columns:
        lists = [list(g) if isinstance(g, list | tuple | np.ndarray) else [] for g in items["genres"]]
    else:
        lists = [[] for _ in range(len(items))]
    if "genre" in items.columns:
        for row, g in enumerate(items["genre"].fillna("").astype(str)):
            if g and g not in lists[row]:
                lists[row].append(g)
    return [[g.strip().lower() for g in gs if str(g).strip()] for gs in lists]


class ContentBased(Recommender):
    name = "content"

    def __init__(
        self,
        genre_weight: float = 1.0,
        half_life: float = 20.0,
        context_weight: float = 2.0,
        neighbours: int = 50,
        precompute_limit: int = 100_000,
    ):
        self.genre_weight = float(genre_weight)
        self.half_life = float(half_life)
        self.context_weight = float(context_weight)
        self.neighbours = int(neighbours)
        self.precompute_limit = int(precompute_limit)

    def _fit(self, train, *, items, valid, callbacks) -> None:
        if items is None:
            raise ModelError("content model: fit needs the items frame (items=dataset.items)")
        attrs = items.drop_duplicates("item_id").set_index("item_id").reindex(self.items.ids).reset_index()
        self.vectors, self.feature_names = item_vectors(attrs, self.genre_weight)
        self.profiles = self._profiles(train)
        self.neighbour_ids, self.neighbour_sims = self._nearest()

    def _profiles(self, train: pd.DataFrame) -> np.ndarray:
        train = train.reset_index(drop=True)
        weights = profile_weights(train, self.half_life).to_numpy(np.float32)
        u = self.users.positions(train["user_id"])
        i = self.items.positions(train["item_id"])
        w = sparse.csr_matrix((weights, (u, i)), shape=(len(self.users), len(self.items)))
        return _unit_rows(np.asarray(w @ self.vectors, dtype=np.float32))

    def _nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """Each item's `neighbours` most similar items (positions, cosine), in blocks of rows."""
        n = len(self.items)
        if n > self.precompute_limit:
            return np.empty((0, 0), dtype=np.int32), np.empty((0, 0), dtype=np.float32)
        k = min(self.neighbours, n - 1)
        ids = np.empty((n, k), dtype=np.int32)
        sims = np.empty((n, k), dtype=np.float32)
        block = max(1, 20_000_000 // max(n, 1))
        for start in range(0, n, block):
            rows = np.arange(start, min(n, start + block))
            s = self.vectors[rows] @ self.vectors.T
            s[np.arange(len(rows)), rows] = -np.inf  # an item is not its own neighbour
            top = top_k_indices(s, k)
            ids[rows] = top
            sims[rows] = np.take_along_axis(s, top, axis=1)
        return ids, sims

    # -- profiles and scores ----------------------------------------------------------

    def context_profile(self, context: Sequence[int], skipped: Iterable[int] = ()) -> np.ndarray:
        """A profile from recent item ids (newest last), with skipped ones pushing away."""
        pos = self.items.positions(list(context))
        age = np.arange(len(pos))[::-1]
        weights = np.exp(-np.log(2.0) * age / self.half_life)
        profile = (weights[pos >= 0, None] * self.vectors[pos[pos >= 0]]).sum(axis=0)
        neg = self.items.positions(list(skipped))
        if (neg >= 0).any():
            profile -= 0.5 * self.vectors[neg[neg >= 0]].sum(axis=0)
        return _unit_rows(profile[None, :].astype(np.float32))[0]

    def user_profile(self, u: int, context: Sequence[int] = (), skipped: Iterable[int] = ()) -> np.ndarray:
        base = self.profiles[u] if u >= 0 else np.zeros(self.vectors.shape[1], dtype=np.float32)
        if len(context) or skipped:
            base = base + self.context_weight * self.context_profile(context, skipped)
        return _unit_rows(base[None, :])[0]

    def score_users(self, u: np.ndarray) -> np.ndarray:
        out = self.profiles[np.maximum(u, 0)] @ self.vectors.T
        out[u < 0] = self.cold_scores()
        return out

    def score_profile(self, profile: np.ndarray) -> np.ndarray:
        return self.vectors @ profile

    def known_items(self) -> np.ndarray:
        return np.ones(len(self.items), dtype=bool)

    def score_request(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        if u < 0 and not len(context):
            return self.cold_scores()
        return self.score_profile(self.user_profile(u, context, skipped))

    def linear_rows(self) -> np.ndarray:
        """[attribute vectors | popularity]: the last column is what a cold start scores by."""
        return np.column_stack([self.vectors, self.cold_scores()]).astype(np.float32)

    def linear_query(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        if u < 0 and not len(context):
            return np.append(np.zeros(self.vectors.shape[1]), 1.0)
        return np.append(self.user_profile(u, context, skipped), 0.0)

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        out = np.zeros(len(u), dtype=np.float32)
        ok = (u >= 0) & (i >= 0)
        out[ok] = np.einsum("nd,nd->n", self.profiles[u[ok]], self.vectors[i[ok]])
        return out

    def recommend(self, user_id, n=10, *, exclude=None, context=None) -> pd.DataFrame:
        u = self.users.position(user_id)
        if u < 0 and not context:
            return super().recommend(user_id, n, exclude=exclude)
        scores = self.score_request(u, context or ())
        removed = list(exclude or []) + list(context or [])
        if u >= 0:
            scores[self.seen.indices[self.seen.indptr[u] : self.seen.indptr[u + 1]]] = -np.inf
        pos = self.items.positions(removed)
        scores[pos[pos >= 0]] = -np.inf
        top = top_k_indices(scores, n)[0]
        top = top[np.isfinite(scores[top])]
        return pd.DataFrame({"item_id": self.items.ids[top], "score": scores[top]})

    def similar_items(self, item_id: int, n: int = 10) -> pd.DataFrame:
        """The n items most similar to one item (precomputed neighbours where available)."""
        i = self.items.position(item_id)
        if i < 0:
            raise ModelError(f"unknown item {item_id}")
        if len(self.neighbour_ids) and n <= self.neighbour_ids.shape[1]:
            top, sims = self.neighbour_ids[i, :n], self.neighbour_sims[i, :n]
        else:
            s = self.vectors @ self.vectors[i]
            s[i] = -np.inf
            top = top_k_indices(s, n)[0]
            sims = s[top]
        return pd.DataFrame({"item_id": self.items.ids[top], "score": sims})

    def closest(self, item_positions: np.ndarray, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each item, which of `among` (positions) is most similar, and the cosine: used to
        explain a recommendation by a track the listener played."""
        if len(among) == 0:
            return np.full(len(item_positions), -1), np.zeros(len(item_positions), dtype=np.float32)
        s = self.vectors[item_positions] @ self.vectors[among].T
        best = s.argmax(axis=1)
        return among[best], s[np.arange(len(item_positions)), best]

    # -- persistence ------------------------------------------------------------------

    def _save_state(self, path: Path) -> None:
        np.savez(
            path / STATE_FILE,
            vectors=self.vectors,
            profiles=self.profiles,
            neighbour_ids=self.neighbour_ids,
            neighbour_sims=self.neighbour_sims,
            feature_names=np.array(self.feature_names),
        )

    def _load_state(self, path: Path) -> None:
        with np.load(path / STATE_FILE) as z:
            self.vectors = z["vectors"]
            self.profiles = z["profiles"]
            self.neighbour_ids = z["neighbour_ids"]
            self.neighbour_sims = z["neighbour_sims"]
            self.feature_names = [str(x) for x in z["feature_names"]]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
