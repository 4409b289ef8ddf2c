"""The interface every recommender in `training` shares.

A model is configured only by its constructor's keyword arguments (as in scikit-surprise), learns
from a frame of interactions with `fit`, and answers three questions:

- `predict(user_ids, item_ids)`: a score per (user, item) pair (a rating for explicit models);
- `score_users(user_ids)`: scores of every catalogue item for a batch of users, one matrix;
- `recommend(user_id, n, exclude=..., context=...)`: the top-n items, seen items removed.

Top-N never loops over items: subclasses return a whole score row per user (a matrix product for
factor models) and `top_n` selects with `argpartition`.
"""

from __future__ import annotations

import importlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
from scipy import sparse

from hz45.errors import Hz45Error

FORMAT_VERSION = 1
META_FILE = "model.json"


class EpochCallback(Protocol):
    """Called by epoch-based models after every epoch with that epoch's metrics
    (for example `loss`, `val_loss`, `val_hr@10`). Returning True stops training early; Ray Tune
    reports from here and ASHA stops a trial by ending it."""

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool | None: ...


class ModelError(Hz45Error):
    """A model was used wrongly (not fitted, bad input frame, unreadable saved model)."""


class IdIndex:
    """Maps external int64 ids to contiguous positions 0..n-1, vectorised (unknown ids -> -1)."""

    def __init__(self, ids: Iterable[int]):
        self.ids = np.asarray(ids, dtype=np.int64)
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._order]
        if len(self._sorted) > 1 and (np.diff(self._sorted) == 0).any():
            raise ModelError("duplicate ids in index")

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        where = np.searchsorted(self._sorted, ids)
        where = np.minimum(where, max(len(self._sorted) - 1, 0))
        found = len(self._sorted) > 0
        hit = (self._sorted[where] == ids) if found else np.zeros(len(ids), dtype=bool)
        out = np.full(len(ids), -1, dtype=np.int64)
        out[hit] = self._order[where[hit]]
        return out

    def position(self, one_id: int) -> int:
        return int(self.positions([one_id])[0])


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str = "train frame") -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ModelError(f"{what}: missing column(s) {', '.join(missing)}", f"has {', '.join(map(str, frame.columns))}")


# Rows longer than this select their top k from a candidate set found with a sampled threshold.
LONG_ROW = 65_536
SAMPLE_STRIDE = 64


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores of each row, best first (argpartition, then sort only k)."""
    scores = np.atleast_2d(scores)
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.empty((scores.shape[0], 0), dtype=np.int64)
    if scores.shape[1] >= LONG_ROW and k * SAMPLE_STRIDE * 4 < scores.shape[1]:
        return np.stack([_top_k_long_row(row, k) for row in scores])
    return _partition_rows(scores, k)


def _partition_rows(scores: np.ndarray, k: int) -> np.ndarray:
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _top_k_long_row(row: np.ndarray, k: int) -> np.ndarray:
    """Exact top k of a long row without partitioning all of it: the k-th largest of a strided
    sample is a lower bound of the row's k-th largest, so every top-k score is >= it and one
    comparison pass leaves a small candidate set (about k * SAMPLE_STRIDE) to partition."""
    sample = row[::SAMPLE_STRIDE]
    threshold = np.partition(sample, len(sample) - k)[len(sample) - k]
    if not np.isfinite(threshold):
        return _partition_rows(row[None, :], k)[0]
    candidates = np.flatnonzero(row >= threshold)
    return candidates[_partition_rows(row[candidates][None, :], min(k, len(candidates)))[0]]


class Recommender(ABC):
    """Base class. Subclasses set `name`, take their whole configuration as constructor keyword
    arguments stored under the same attribute names, and implement `_fit`, `score_users`,
    `_predict_pairs`, `_save_state` and `_load_state`."""

    name: ClassVar[str] = ""
    # Epoch-based models call `callbacks` after every epoch (see EpochCallback).
    epoch_based: ClassVar[bool] = False
    # Whether `predict` returns ratings on the training scale (RMSE makes sense) or only ranks.
    predicts_ratings: ClassVar[bool] = False
    # Whether scoring a whole catalogue costs far more than one matrix-vector product (a neural
    # network per item); the hybrid then scores such a model on a shortlist per request.
    costly_scoring: ClassVar[bool] = False

    # Fitted state shared by all models.
    users: IdIndex
    items: IdIndex
    seen: sparse.csr_matrix  # users x items, 1 where the user interacted during fit
    popularity: np.ndarray  # per item, training interactions

    # -- configuration -------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor keyword arguments, as given (the whole configuration)."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def clone(self) -> Recommender:
        """A new, unfitted model with the same configuration."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- learning ------------------------------------------------------------------------

    def fit(
        self,
        train: pd.DataFrame,
        *,
        items: pd.DataFrame | None = None,
        valid: pd.DataFrame | None = None,
        callbacks: Sequence[EpochCallback] = (),
    ) -> Recommender:
        """Learn from interactions in the canonical frame (user_id, item_id, value; event_type and
        timestamp used where present). `items` is the catalogue frame (attributes for content
        models; its item ids join the catalogue even without interactions); `valid` is held-out
        interactions for early stopping / blend fitting where the model uses them."""
        self._index(train, items)
        self._fit(train, items=items, valid=valid, callbacks=callbacks)
        return self

    def _index(self, train: pd.DataFrame, items: pd.DataFrame | None) -> None:
        """The state every model keeps: id indexes, the items each user saw, item popularity."""
        require_columns(train, ["user_id", "item_id", "value"])
        if len(train) == 0:
            raise ModelError("train frame: no interactions")
        catalogue = train["item_id"].to_numpy(np.int64)
        if items is not None:
            require_columns(items, ["item_id"], "items frame")
            catalogue = np.concatenate([items["item_id"].to_numpy(np.int64), catalogue])
        self.items = IdIndex(pd.unique(catalogue))
        self.users = IdIndex(pd.unique(train["user_id"].to_numpy(np.int64)))
        u = self.users.positions(train["user_id"])
        i = self.items.positions(train["item_id"])
        self.seen = sparse.csr_matrix(
            (np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(self.users), len(self.items))
        )
        self.seen.data[:] = 1.0
        self.popularity = np.asarray(self.seen.sum(axis=0)).ravel().astype(np.float32)

    @abstractmethod
    def _fit(self, train, *, items, valid, callbacks) -> None: ...

    # -- scoring -------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "items"):
            raise ModelError(f"{type(self).__name__} is not fitted", "call fit() or load() first")

    def predict(self, user_ids, item_ids) -> np.ndarray:
        """Scores for (user, item) pairs, float32; unknown users/items get the model's fallback."""
        self._check_fitted()
        user_ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        item_ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if len(user_ids) != len(item_ids):
            raise ModelError("predict: user_ids and item_ids differ in length")
        return self._predict_pairs(self.users.positions(user_ids), self.items.positions(item_ids))

    @abstractmethod
    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Scores for positions (-1 marks an unknown user or item)."""

    @abstractmethod
    def score_users(self, u: np.ndarray) -> np.ndarray:
        """float32 matrix len(u) x n_items of scores over the whole catalogue for user positions
        (-1 = unknown user: the model's cold-start row, popularity unless overridden). Always a
        new array: callers may modify it."""

    def known_items(self) -> np.ndarray:
        """Per catalogue position, whether the model learned anything about the item (collaborative
        models know only items with training interactions)."""
        return self.popularity > 0

    def score_request(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        """One user's catalogue scores for a live request. `context` holds recent item ids (newest
        last) and `skipped` recently skipped ones; models that can use them override this."""
        return self.score_users(np.array([u], dtype=np.int64))[0]

    def linear_rows(self) -> np.ndarray | None:
        """F, one row per catalogue position, where the model's request scores are linear:
        score_request(u, context, skipped) == F @ linear_query(u, context, skipped) + a constant
        per request. None for models that are not (the hybrid then cannot retrieve through them)."""
        return None

    def linear_query(self, u: int, context: Sequence[int] = (), skipped: Sequence[int] = ()) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no linear form")

    def cold_scores(self) -> np.ndarray:
        """Scores for a user the model has never seen: item popularity."""
        return np.log1p(self.popularity).astype(np.float32)

    def top_n(
        self, user_ids, n: int = 10, *, remove_seen: bool = True, exclude: Iterable[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item ids and scores for a batch of users (rows), best first, from one score
        matrix; items the user interacted with during fit (and `exclude`) are removed."""
        self._check_fitted()
        u = self.users.positions(user_ids)
        scores = np.asarray(self.score_users(u), dtype=np.float32)  # a new array: masked in place
        if remove_seen:
            known = np.flatnonzero(u >= 0)
            rows = self.seen[u[known]]
            scores[known[np.repeat(np.arange(len(known)), np.diff(rows.indptr))], rows.indices] = -np.inf
        if exclude is not None:
            ex = self.items.positions(list(exclude))
            scores[:, ex[ex >= 0]] = -np.inf
        idx = top_k_indices(scores, n)
        top_scores = np.take_along_axis(scores, idx, axis=1)
        return self.items.ids[idx], top_scores

    def recommend(
        self,
        user_id: int,
        n: int = 10,
        *,
        exclude: Iterable[int] | None = None,
        context: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """The top-n items for one user as a frame (item_id, score), best first, seen and excluded
        items removed. `context` (recent item ids, newest last) is used by models that react to
        it; collaborative models ignore it."""
        ids, scores = self.top_n([user_id], n, exclude=exclude)
        keep = np.isfinite(scores[0])
        return pd.DataFrame({"item_id": ids[0][keep], "score": scores[0][keep]})

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model to a directory: model.json (class, params) plus the model's state."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "name": self.name,
            "params": self.get_params(),
        }
        (path / META_FILE).write_text(json.dumps(meta, indent=2, default=_json_default))
        np.savez(
            path / "index.npz",
            users=self.users.ids,
            items=self.items.ids,
            seen_indptr=self.seen.indptr,
            seen_indices=self.seen.indices,
            popularity=self.popularity,
        )
        self._save_state(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a model written by `save`; called on the base class it returns the saved class."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.exists():
            raise ModelError(f"no saved model in {path}", f"{META_FILE} is missing")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"saved model {path}: format {meta.get('format')} is not {FORMAT_VERSION}")
        module, _, qualname = meta["class"].partition(":")
        model_cls = getattr(importlib.import_module(module), qualname)
        if not issubclass(model_cls, cls):
            raise ModelError(f"saved model {path} is a {qualname}, not a {cls.__name__}")
        model = model_cls(**meta["params"])
        with np.load(path / "index.npz") as z:
            model.users = IdIndex(z["users"])
            model.items = IdIndex(z["items"])
            model.seen = sparse.csr_matrix(
                (np.ones(len(z["seen_indices"]), dtype=np.float32), z["seen_indices"], z["seen_indptr"]),
                shape=(len(model.users), len(model.items)),
            )
            model.popularity = z["popularity"]
        model._load_state(path)
        return model

    @abstractmethod
    def _save_state(self, path: Path) -> None: ...

    @abstractmethod
    def _load_state(self, path: Path) -> None: ...


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in model.json")


def load_model(path: str | Path) -> Recommender:
    """Load any saved model (its class is recorded in model.json)."""
    return Recommender.load(path)
