"""The hybrid: a weighted blend of collaborative and content-based scores, with cold start and a
reason for every recommendation.

Blend. Each component's scores for a user are standardised over the catalogue (z-scores, so
scales as different as ratings, probabilities and cosines add up), then summed with weights that
are fitted, not set: the components are trained on most of the training data, the weights are
searched on the held-out rest to maximise nDCG@10 (a coarse grid over the simplex, then
coordinate refinement), and with `refit` the components are trained again on all of it.

Items a collaborative component knows nothing about (no training interactions, e.g. a new
track) take the content component's z-score in that component's place, so a new track is
reachable through content with the full weight of the blend behind its similarity.

Live requests. `context` (recent track ids, newest last) and `skipped` move the content profile
and are folded into the implicit-ALS user factors (one least-squares solve), so the list follows
what the listener just played. A listener the model has never seen is a cold start: with context
they get tracks popular with listeners who played the same (ALS fold-in) and similar in sound
(content); without context, the collaborative components' cold rows, i.e. the popular tracks.

Large catalogues. A request scores the linear components (factor models, content) through a
retrieval index (training.models.retrieval): the blend's z-scores are exact without a pass over
the catalogue, and only the best clusters of items, `scan` items in all, are scored; the
`candidates` best of those are rescored by the costly components. A catalogue of at most `scan`
items is scored whole, so the answer is the exact one.

Default lists. Most requests carry no live context: a listener's list then depends on nothing
but the version. When a version is saved, the answer to such a request (DEFAULT_LIST tracks with
scores and reasons, seen items left out) is computed once for every training listener and for a
cold start, and saved with it; the request path then slices it, with no scoring at all. A request
with context, skips, exclusions or more than DEFAULT_LIST tracks takes the full path. Both give
the same list (a unit test checks it for every listener).

Components default to SVD (scikit-surprise), NeuMF, implicit ALS and content-based; ALS is the
collaborative component added for ranking quality (SVD is fitted to ratings and ranks poorly).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training import metrics
from training.base import ModelError, Recommender, top_k_indices
from training.feedback import NEGATIVE_EVENTS, positives
from training.models.blend import Blend
from training.models.content import ContentBased
from training.models.retrieval import BlendIndex, Block

DEFAULT_COMPONENTS: dict[str, dict[str, Any]] = {
    "svd": {},
    "ncf": {},
    "als": {},
    "content": {},
}
BLEND_K = 10
GRID_STEP = 0.25
REFINE_STEPS = (0.1, 0.05, 0.02)
RECENT_PER_USER = 20
CATALOGUE_FILE = "catalogue.parquet"
CATALOGUE_COLUMNS = ("item_id", "title", "artist_name", "genre")
RETRIEVAL_FILE = "retrieval.npz"
DEFAULT_LISTS_FILE = "default_lists.npz"
# Items kept per listener for requests without live context: the API's largest n.
DEFAULT_LIST = 100
# Stands for a listener no component knows (the cold-start row of the default lists).
UNKNOWN_USER = -1


def zscore(scores: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Standardise each row over the known, finite entries; others become NaN."""
    scores = np.atleast_2d(scores).astype(np.float32, copy=False)
    valid = np.isfinite(scores) & known[None, :]
    count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    clean = np.where(valid, scores, 0.0)
    mean = clean.sum(axis=1, keepdims=True) / count
    std = np.sqrt(np.where(valid, (clean - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
    std[~(std > 0)] = 1.0
    return np.where(valid, (clean - mean) / std, np.nan).astype(np.float32)


class Hybrid(Blend):
    name = "hybrid"

    def __init__(
        self,
        components: Mapping[str, Mapping[str, Any]] | None = None,
        validation_share: float = 0.1,
        max_validation_users: int = 1000,
        refit: bool = True,
        candidates: int = 1000,
        scan: int = 25_000,
        seed: int = 42,
    ):
        self.components = {k: dict(v) for k, v in (components or DEFAULT_COMPONENTS).items()}
        self.validation_share = float(validation_share)
        self.max_validation_users = int(max_validation_users)
        self.refit = bool(refit)
        self.candidates = int(candidates)
        self.scan = int(scan)
        self.seed = int(seed)
        self.default_lists: DefaultLists | None = None

    # -- fitting ----------------------------------------------------------------------

    def _fit_blend(self, parts, inner, valid) -> None:
        self.weights = fit_weights(self._validation_scores(parts, inner, valid), BLEND_K)

    @classmethod
    def assemble(
        cls,
        parts: Mapping[str, Recommender],
        train: pd.DataFrame,
        valid: pd.DataFrame,
        items: pd.DataFrame | None = None,
        **params: Any,
    ) -> Hybrid:
        """A hybrid from components already fitted on `train` (e.g. registered versions): only the
        blend weights are fitted, on `valid`."""
        hybrid = cls(components={name: part.get_params() for name, part in parts.items()}, refit=False, **params)
        hybrid._index(train, items)
        hybrid._fit_blend(dict(parts), train, valid)
        hybrid._set_parts(dict(parts), train, items)
        return hybrid

    def _validation_scores(self, parts, inner, valid):
        """Per component, z-scores of validation users over the catalogue, with the truth."""
        truth = positives(valid)
        inner_users = set(inner["user_id"].unique())
        truth = truth[truth["user_id"].isin(inner_users)]
        users = truth["user_id"].unique()
        if len(users) > self.max_validation_users:
            users = np.random.default_rng(self.seed).choice(users, self.max_validation_users, replace=False)
        grouped = truth[truth["user_id"].isin(users)].groupby("user_id")["item_id"].apply(np.asarray)
        users = grouped.index.to_numpy()
        ref = next(iter(parts.values()))
        blocks = self._component_rows(parts, users, ref.items.ids)
        seen = inner[inner["user_id"].isin(users)]
        row = pd.Series(np.arange(len(users)), index=users)
        seen_rows = row[seen["user_id"]].to_numpy()
        seen_cols = ref.items.positions(seen["item_id"])
        relevant = [ref.items.positions(v) for v in grouped.to_numpy()]
        return ValidationSet(blocks, (seen_rows, seen_cols), relevant)

    def _component_rows(self, parts, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """z-scored rows per component for these users over `item_ids`, with unknown items
        filled from the content component."""
        rows = {
            name: _zscored(part, part.score_users(part.users.positions(user_ids)), part.items.positions(item_ids))
            for name, part in parts.items()
        }
        return _fill_from_content(rows, self._content_name(parts))

    @staticmethod
    def _content_name(parts) -> str | None:
        return next((n for n, p in parts.items() if isinstance(p, ContentBased)), None)

    def _set_parts(self, parts, train: pd.DataFrame, items: pd.DataFrame | None) -> None:
        self.parts = parts
        self._recent_history(train)
        self.catalogue = _catalogue(self.items.ids, items)
        self._prepare()
        self._prepare_scoring()

    def _prepare_scoring(self) -> None:
        """What the request path scores with, for the current weights and `candidates`: per-user
        statistics of the shortlisted components, and the retrieval index over the others."""
        self.shortlist_stats = {name: self._score_stats(name) for name in self._shortlisted()}
        self.retrieval = self._blend_index(None)
        self.default_lists = None  # computed when the version is saved

    def with_weights(self, weights: Mapping[str, float]) -> Hybrid:
        """A copy blending with other weights (normalised to sum 1), sharing the fitted components;
        the shortlist statistics follow the new weights."""
        unknown = sorted(set(weights) - set(self.parts))
        total = float(sum(weights.values()))
        if unknown or total <= 0:
            raise ModelError(f"blend weights {dict(weights)} must name components of {list(self.parts)} and not all be 0")
        blended = copy.copy(self)
        blended.weights = {name: float(weights.get(name, 0.0)) / total for name in self.parts}
        blended.shortlist_stats = {
            name: self.shortlist_stats[name] if name in self.shortlist_stats else blended._score_stats(name)
            for name in blended._shortlisted()
        }
        blended.retrieval = blended._blend_index(self.retrieval.assignment if self.retrieval else None)
        blended.default_lists = None
        return blended

    def _shortlisted(self) -> list[str]:
        """Costly components that requests score on a shortlist only (catalogue > candidates)."""
        if not 0 < self.candidates < len(self.items):
            return []
        return [n for n, p in self.parts.items() if p.costly_scoring and self.weights.get(n, 0.0) > 0]

    def _blend_index(self, assignment: np.ndarray | None) -> BlendIndex | None:
        """The retrieval index over the components a request scores whole, or None when one of
        them has no linear form (the request path then scores every item)."""
        content_name = self._content_name(self.parts)
        names = [
            n
            for n, p in self.parts.items()
            if n not in self._shortlisted() and (self.weights.get(n, 0.0) > 0 or n == content_name)
        ]
        if not names or any(self.parts[n].linear_rows() is None for n in names):
            return None
        blocks = []
        for name in names:
            part, align = self.parts[name], self._align[name]
            known = np.zeros(len(self.items), dtype=bool)
            known[align >= 0] = part.known_items()[align[align >= 0]]
            blocks.append(Block.build(name, part.linear_rows(), None if self._aligned[name] else align, known))
        if assignment is not None and len(assignment) != len(self.items):
            assignment = None
        return BlendIndex(blocks, self.weights, content_name, self.scan, assignment, self.seed)

    def _score_stats(self, name: str) -> np.ndarray:
        """Mean and standard deviation of a component's scores over its known items, per user
        (last row: a listener it has never seen), so a shortlist can be standardised exactly as
        the whole catalogue would be."""
        part = self.parts[name]
        users = np.concatenate([part.users.positions(self.users.ids), [-1]])
        known = part.known_items()
        stats = np.empty((len(users), 2), dtype=np.float32)
        for start in range(0, len(users), 256):
            rows = part.score_users(users[start : start + 256])[:, known]
            stats[start : start + 256] = np.column_stack([rows.mean(axis=1), rows.std(axis=1)])
        stats[~(stats[:, 1] > 0), 1] = 1.0
        return stats

    def _prepare(self) -> None:
        """Lookups the request path needs: each component's positions in this catalogue and the
        display label of every item."""
        self._align = {n: p.items.positions(self.items.ids) for n, p in self.parts.items()}
        self._aligned = {n: bool((a == np.arange(len(a))).all()) for n, a in self._align.items()}
        self.labels = np.array([_label(row) for row in self.catalogue.itertuples(index=False)], dtype=object)

    def _recent_history(self, train: pd.DataFrame) -> None:
        """Each user's latest positive items (time order, newest last), to explain by."""
        kind = train["event_type"].astype(str) if "event_type" in train.columns else pd.Series("", index=train.index)
        liked = train[~kind.isin(NEGATIVE_EVENTS)]
        if "timestamp" in liked.columns:
            liked = liked.sort_values("timestamp", kind="stable")
        liked = liked.groupby("user_id").tail(RECENT_PER_USER)
        u = self.users.positions(liked["user_id"])
        order = np.argsort(u, kind="stable")
        self.recent_items = self.items.positions(liked["item_id"].to_numpy())[order].astype(np.int64)
        self.recent_indptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=len(self.users)))])

    # -- scoring ----------------------------------------------------------------------

    def score_users(self, u: np.ndarray) -> np.ndarray:
        user_ids = np.where(u >= 0, self.users.ids[np.maximum(u, 0)], -1)
        content_name = self._content_name(self.parts)
        used = {n: p for n, p in self.parts.items() if self.weights.get(n, 0.0) > 0 or n == content_name}
        rows = self._component_rows(used, user_ids, self.items.ids)
        return _blend(rows, self.weights)

    def _predict_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        out = np.zeros(len(u), dtype=np.float32)
        for user in np.unique(u):
            rows = np.flatnonzero(u == user)
            full = self.score_users(np.array([user]))[0]
            ok = i[rows] >= 0
            out[rows[ok]] = full[i[rows][ok]]
        return out

    def request_scores(
        self,
        user_id: int,
        context: Sequence[int] = (),
        skipped: Sequence[int] = (),
        blocked: np.ndarray | None = None,
        n: int | None = None,
    ) -> Scored:
        """Blended scores for one live request with each component's weighted contribution, over
        the items scored (`blocked` positions are left out or -inf); with `n`, at least the best n
        are among them. Components with weight 0 are not scored (content always is: it fills
        unknown items). Costly components are scored only on the `candidates` best items of the
        rest of the blend, standardised with their per-user statistics from fit time."""
        if self.retrieval is not None:
            return self._retrieved_scores(user_id, context, skipped, blocked, n)
        return self._dense_scores(user_id, context, skipped, blocked)

    def _retrieved_scores(self, user_id, context, skipped, blocked, n=None) -> Scored:
        index = self.retrieval
        queries = {}
        for block in index.blocks:
            part = self.parts[block.name]
            queries[block.name] = part.linear_query(part.users.position(user_id), context, skipped)
        units = index.units(queries)
        wanted = self.candidates if self.shortlist_stats or n is None else n
        short = index.search(units, wanted, blocked)
        contributions, content_z = index.contributions(short, units)
        u = self.users.position(user_id)
        for name in self.shortlist_stats:
            contributions[name] = self._shortlist_contribution(name, u, short, content_z)
        total = np.sum(list(contributions.values()), axis=0).astype(np.float32)
        return Scored(short, total, contributions)

    def _dense_scores(self, user_id, context, skipped, blocked) -> Scored:
        """Every component over the whole catalogue (the path for components without a linear
        form), z-scored from the scores themselves."""
        content_name = self._content_name(self.parts)
        shortlisted = set(self.shortlist_stats)
        rows = {}
        for name, part in self.parts.items():
            if name in shortlisted or (self.weights.get(name, 0.0) == 0.0 and name != content_name):
                continue
            raw = part.score_request(part.users.position(user_id), context, skipped)
            rows[name] = _zscored(part, raw, None if self._aligned[name] else self._align[name])
        rows = _fill_from_content(rows, content_name)
        contributions = {n: self.weights.get(n, 0.0) * np.nan_to_num(r[0]) for n, r in rows.items()}
        total = np.sum(list(contributions.values()), axis=0).astype(np.float32)
        if blocked is not None:
            total[blocked] = -np.inf
        everything = np.arange(len(total))
        if not shortlisted:
            return Scored(everything, total, contributions)
        short = top_k_indices(total, self.candidates)[0]
        short = short[np.isfinite(total[short])]
        u = self.users.position(user_id)
        content_z = rows[content_name][0][short] if content_name in rows else None
        contributions = {n: c[short] for n, c in contributions.items()}
        for name in shortlisted:
            contributions[name] = self._shortlist_contribution(name, u, short, content_z)
        return Scored(short, np.sum(list(contributions.values()), axis=0).astype(np.float32), contributions)

    def _shortlist_contribution(self, name: str, u: int, short: np.ndarray, content_z) -> np.ndarray:
        """A costly component's weighted z-scores at the shortlisted positions (the content z
        where it does not know the item)."""
        part = self.parts[name]
        pu = part.users.position(int(self.users.ids[u])) if u >= 0 else -1
        mean, std = self.shortlist_stats[name][u if u >= 0 else -1]
        pos = self._align[name][short]
        z = np.full(len(short), np.nan, dtype=np.float32)
        known = (pos >= 0) & part.known_items()[np.maximum(pos, 0)]
        if known.any():
            z[known] = (part._predict_pairs(np.full(int(known.sum()), pu), pos[known]) - mean) / std
        if content_z is not None:
            z = np.where(np.isnan(z), content_z, z)
        return self.weights[name] * np.nan_to_num(z)

    def recommend(self, user_id, n=10, *, exclude=None, context=None, skipped=None) -> pd.DataFrame:
        """Top-n for one listener: item_id, score, reason, cold_start; seen, excluded, context and
        skipped items removed."""
        ids, scores, reasons, cold = self.recommend_arrays(user_id, n, exclude=exclude, context=context, skipped=skipped)
        return pd.DataFrame({"item_id": ids, "score": scores, "reason": reasons, "cold_start": cold})

    def recommend_arrays(
        self, user_id: int, n: int = 10, *, exclude=None, context=None, skipped=None
    ) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
        """The request path without pandas: item ids, scores, reasons, and whether the listener
        was a cold start."""
        self._check_fitted()
        context = [int(x) for x in (context or [])]
        skipped = [int(x) for x in (skipped or [])]
        u = self.users.position(user_id)
        plain = not context and not skipped and (exclude is None or len(exclude) == 0)
        if plain and self.default_lists is not None and n <= self.default_lists.size:
            ids, scores, reasons = self.default_lists.row(u, n)  # u = -1: the cold-start row
            return ids, scores, reasons, u < 0
        scored = self.request_scores(user_id, context, skipped, self._blocked(u, exclude, context, skipped), n)
        best = top_k_indices(scored.total, n)[0]
        best = best[np.isfinite(scored.total[best])]
        top = scored.positions[best]
        contributions = {name: c[best] for name, c in scored.contributions.items()}
        reasons = self._reasons(top, contributions, self._anchors(u, context), u, context)
        return self.items.ids[top], scored.total[best], reasons, u < 0

    def _blocked(self, u: int, exclude, context: list[int], skipped: list[int]) -> np.ndarray:
        """Positions a request never returns: excluded, context, skipped and (known listener) seen."""
        removed = self.items.positions(list(exclude or []) + context + skipped)
        blocked = removed[removed >= 0]
        if u >= 0:
            blocked = np.concatenate([blocked, self.seen.indices[self.seen.indptr[u] : self.seen.indptr[u + 1]]])
        return blocked

    def _compute_default_lists(self) -> DefaultLists:
        """The full path's answer for DEFAULT_LIST tracks, per training listener, then for a
        cold start."""
        k = min(DEFAULT_LIST, len(self.items))
        users = [*self.users.ids.tolist(), UNKNOWN_USER]
        ids = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.zeros((len(users), k), dtype=np.float32)
        reasons: list[list[str]] = []
        for row, user_id in enumerate(users):
            found, scored, said, _ = self.recommend_arrays(user_id, k)
            ids[row, : len(found)], scores[row, : len(found)] = found, scored
            reasons.append(said)
        texts, codes = np.unique(np.array([r for said in reasons for r in said] or [""], dtype=str), return_inverse=True)
        coded = np.full((len(users), k), -1, dtype=np.int32)
        at = 0
        for row, said in enumerate(reasons):
            coded[row, : len(said)] = codes[at : at + len(said)]
            at += len(said)
        return DefaultLists(ids, scores, coded, texts)

    # -- reasons ----------------------------------------------------------------------

    def _anchors(self, u: int, context: list[int]) -> np.ndarray:
        """Positions of the tracks a recommendation can be explained by: context first."""
        recent = self.recent_items[self.recent_indptr[u] : self.recent_indptr[u + 1]] if u >= 0 else np.empty(0, int)
        ctx = self.items.positions(context)
        return np.concatenate([ctx[ctx >= 0][::-1], recent[::-1]]).astype(np.int64)

    def _reasons(self, top: np.ndarray, contributions, anchors: np.ndarray, u: int, context: list[int]) -> list[str]:
        """A short reason per item (positions `top`, with each component's contribution to it):
        the track it is most similar to where content led (or the item is new), else who it is
        popular with."""
        content_name = self._content_name(self.parts)
        similar_to = np.full(len(top), -1)
        if content_name is not None and len(anchors):
            content = self.parts[content_name]
            cpos = content.items.positions(self.items.ids[top])
            apos = content.items.positions(self.items.ids[anchors])
            best, _ = content.closest(np.maximum(cpos, 0), apos[apos >= 0])
            similar_to = np.where(best >= 0, self.items.positions(content.items.ids[np.maximum(best, 0)]), -1)
        names = list(contributions)
        stacked = np.stack([contributions[n] for n in names])
        dominant = [names[k] for k in stacked.argmax(axis=0)]
        latest = self.items.positions(context[-1:])
        reasons = []
        for col, item in enumerate(top):
            label = self.labels[similar_to[col]] if similar_to[col] >= 0 else None
            if self.popularity[item] == 0:
                reasons.append(f"new: similar to {label} you played" if label else "new on 4.5HZ")
            elif dominant[col] == content_name and label:
                reasons.append(f"similar to {label} you played")
            elif u >= 0:
                reasons.append("popular with listeners like you")
            elif len(latest) and latest[0] >= 0:
                reasons.append(f"popular with listeners who played {self.labels[latest[0]]}")
            else:
                reasons.append("popular right now")
        return reasons

    # -- persistence ------------------------------------------------------------------

    def _save_state(self, path: Path) -> None:
        self._save_parts(path)
        (path / "weights.json").write_text(json.dumps(self.weights, indent=2))
        np.savez(path / "recent.npz", items=self.recent_items, indptr=self.recent_indptr)
        np.savez(path / "shortlist_stats.npz", **self.shortlist_stats)
        if self.retrieval is not None:
            np.savez(path / RETRIEVAL_FILE, assignment=self.retrieval.assignment)
        if self.default_lists is None:
            self.default_lists = self._compute_default_lists()
        self.default_lists.save(path / DEFAULT_LISTS_FILE)
        self.catalogue.to_parquet(path / CATALOGUE_FILE, index=False)

    def _load_state(self, path: Path) -> None:
        self.parts = self._load_parts(path)
        self.weights = json.loads((path / "weights.json").read_text())
        with np.load(path / "recent.npz") as z:
            self.recent_items, self.recent_indptr = z["items"], z["indptr"]
        self.catalogue = pd.read_parquet(path / CATALOGUE_FILE)
        self._prepare()
        with np.load(path / "shortlist_stats.npz") as z:
            self.shortlist_stats = {name: z[name] for name in z.files}
        assignment = None
        if (path / RETRIEVAL_FILE).exists():  # versions saved before the index build it here
            with np.load(path / RETRIEVAL_FILE) as z:
                assignment = z["assignment"]
        self.retrieval = self._blend_index(assignment)
        # Versions saved before default lists take the full path for every request.
        lists = path / DEFAULT_LISTS_FILE
        self.default_lists = DefaultLists.load(lists) if lists.exists() else None


@dataclass
class DefaultLists:
    """Saved answers, a row per listener (the last: a cold start): track ids (-1 past the end of
    a shorter list), scores, and reasons as indices into `texts`."""

    ids: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray
    texts: np.ndarray

    @property
    def size(self) -> int:
        return self.ids.shape[1]

    def row(self, u: int, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        ids = self.ids[u, :n]
        m = int(np.count_nonzero(ids >= 0))
        return ids[:m], self.scores[u, :m], self.texts[self.reasons[u, :m]].tolist()

    def save(self, path: Path) -> None:
        np.savez(path, ids=self.ids, scores=self.scores, reasons=self.reasons, texts=self.texts)

    @classmethod
    def load(cls, path: Path) -> DefaultLists:
        with np.load(path) as z:
            return cls(z["ids"], z["scores"], z["reasons"], z["texts"])


@dataclass
class Scored:
    """One request's scores: the hybrid positions scored, their blended score, and each
    component's weighted contribution to it (arrays aligned with `positions`)."""

    positions: np.ndarray
    total: np.ndarray
    contributions: dict[str, np.ndarray]


class ValidationSet:
    """What blend weights are fitted on: z-scored component rows for validation users, the
    (row, item) cells they saw in training, and each row's relevant item positions."""

    def __init__(self, rows: dict[str, np.ndarray], seen: tuple[np.ndarray, np.ndarray], relevant: list[np.ndarray]):
        self.names = list(rows)
        self.rows = [np.nan_to_num(rows[n]) for n in self.names]
        self.seen = seen
        self.relevant = relevant
        self.n_relevant = np.array([len(r) for r in relevant])

    def ndcg(self, weights: Sequence[float], k: int) -> float:
        total = np.zeros_like(self.rows[0])
        for w, r in zip(weights, self.rows, strict=True):
            if w:
                total += np.float32(w) * r
        total[self.seen] = -np.inf
        ranked = top_k_indices(total, k)
        hits = metrics.hit_matrix(ranked, self.relevant)
        return metrics.ndcg_at_k(hits, self.n_relevant, k)


def fit_weights(valid: ValidationSet, k: int) -> dict[str, float]:
    """Blend weights (summing to 1) maximising validation nDCG@k: every point of a coarse grid on
    the simplex, then coordinate steps of decreasing size from the best one."""
    n = len(valid.names)
    ticks = np.arange(0, 1 + 1e-9, GRID_STEP)
    grid = [np.array(w) for w in product(ticks, repeat=n) if abs(sum(w) - 1) < 1e-9]
    scored = [(valid.ndcg(w, k), tuple(w)) for w in grid]
    best_score, best = max(scored)
    best = np.array(best)
    for step in REFINE_STEPS:
        improved = True
        while improved:
            improved = False
            for c, sign in product(range(n), (1, -1)):
                trial = best.copy()
                trial[c] = max(0.0, trial[c] + sign * step)
                if trial.sum() == 0:
                    continue
                trial /= trial.sum()
                score = valid.ndcg(trial, k)
                if score > best_score + 1e-9:
                    best_score, best, improved = score, trial, True
    return {name: round(float(w), 4) for name, w in zip(valid.names, best, strict=True)}


def _zscored(part: Recommender, raw: np.ndarray, align: np.ndarray | None) -> np.ndarray:
    """A component's raw scores (rows over its own catalogue) as z-scores over another
    catalogue, given each item's position in the component (-1: unknown); None: same catalogue."""
    raw = np.atleast_2d(raw)
    if align is None:
        return zscore(raw, part.known_items())
    scores = np.full((raw.shape[0], len(align)), np.nan, dtype=np.float32)
    scores[:, align >= 0] = raw[:, align[align >= 0]]
    known = np.zeros(len(align), dtype=bool)
    known[align >= 0] = part.known_items()[align[align >= 0]]
    return zscore(scores, known)


def _fill_from_content(rows: dict[str, np.ndarray], content_name: str | None) -> dict[str, np.ndarray]:
    if content_name is None:
        return rows
    content = rows[content_name]
    return {n: (r if n == content_name else np.where(np.isnan(r), content, r)) for n, r in rows.items()}


def _blend(rows: dict[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    total = np.zeros_like(next(iter(rows.values())))
    for name, r in rows.items():
        total += weights.get(name, 0.0) * np.nan_to_num(r)
    return total


def _label(row) -> str:
    title = row.title if row.title else f"track {row.item_id}"
    return f"{title} by {row.artist_name}" if row.artist_name else title


def _catalogue(item_ids: np.ndarray, items: pd.DataFrame | None) -> pd.DataFrame:
    """The catalogue the hybrid carries: id, title, artist and genre in position order."""
    frame = pd.DataFrame({"item_id": item_ids})
    if items is not None:
        present = [c for c in CATALOGUE_COLUMNS if c in items.columns]
        frame = frame.merge(items[present].drop_duplicates("item_id"), on="item_id", how="left")
    for col in CATALOGUE_COLUMNS[1:]:
        if col not in frame.columns:
            frame[col] = ""
        frame[col] = frame[col].astype("string").fillna("")
    return frame

