"""Candidate retrieval for the hybrid: the blend of linear components as one inner product, and an
inverted-file index over it so a request scores a fixed number of items, not the catalogue.

A linear component scores item i for a request as s(i) = F(i) . q + c: a fixed item row F(i)
(factors and bias, attribute vector, a popularity column for cold starts) and a per-request
query q (user factors, a folded-in or content profile, or the cold-start selector). The hybrid
z-scores each component over the items it knows; for a linear score that needs no pass over the
catalogue: with mu and S the mean and covariance of F over those items, the mean score is
mu . q + c and the variance q' S q. In whitened coordinates W(i) = (F(i) - mu) V / sqrt(L)
(S = V L V'), z(i) = W(i) . u with u = sqrt(L) V' q / std a unit vector. So the blend
sum_c w_c z_c(i) is the product of one item row, the components' whitened rows weighted and
stacked, with the stacked unit queries: exact, and the same for every request but the query.
An item a collaborative component does not know takes the content z-score in its place, so its
content block carries that component's weight too.

Retrieval is then a maximum-inner-product search over a fixed matrix. The items are clustered
(k-means on the stacked rows, kept in cluster order); a request ranks the clusters by their
centroid's product with the query and scores the items of the best ones exactly, until `scan`
items are covered. A catalogue of at most `scan` items is one cluster: every item is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from training.base import top_k_indices

# Relative size below which a covariance direction is taken as no variation at all.
EIGEN_FLOOR = 1e-6
KMEANS_ITERATIONS = 8
KMEANS_SAMPLE_PER_CLUSTER = 64
ROWS_PER_CHUNK = 65_536


@dataclass
class Block:
    """One linear component as seen from the hybrid's catalogue."""

    name: str
    rows: np.ndarray  # F: the component's item rows, in its own catalogue order
    align: np.ndarray | None  # the hybrid's position -> row in `rows` (-1: unknown); None: same order
    known: np.ndarray  # per hybrid position: the component learned something about the item
    mean: np.ndarray  # mu over known items (float64)
    root: np.ndarray  # V sqrt(L): q @ root has norm std (float64, d x r)
    whiten: np.ndarray  # V / sqrt(L) (float64, d x r)

    @classmethod
    def build(cls, name: str, rows: np.ndarray, align: np.ndarray | None, known: np.ndarray) -> Block:
        own = rows if align is None else rows[np.maximum(align, 0)]
        sample = own[known].astype(np.float64)
        mean = sample.mean(axis=0) if len(sample) else np.zeros(rows.shape[1])
        cov = np.cov(sample, rowvar=False, bias=True) if len(sample) > 1 else np.zeros((rows.shape[1],) * 2)
        values, vectors = np.linalg.eigh(np.atleast_2d(cov))
        keep = values > EIGEN_FLOOR * max(float(values.max()), 1e-30)
        values, vectors = values[keep], vectors[:, keep]
        return cls(name, rows, align, known, mean, vectors * np.sqrt(values), vectors / np.sqrt(values))

    def unit_query(self, query: np.ndarray) -> np.ndarray:
        """u: z(i) = W(i) . u; zero when the query scores every known item alike."""
        projected = np.asarray(query, dtype=np.float64) @ self.root
        norm = float(np.linalg.norm(projected))
        return (projected / norm if norm > 0 else projected).astype(np.float32)

    def whitened(self, positions: np.ndarray) -> np.ndarray:
        """W for hybrid positions (zero rows where the item is unknown), float32."""
        rows = self.rows[positions if self.align is None else np.maximum(self.align[positions], 0)]
        out = ((rows - self.mean) @ self.whiten).astype(np.float32)
        out[~self.known[positions]] = 0.0
        return out

    def zscores(self, positions: np.ndarray, unit: np.ndarray) -> np.ndarray:
        """z for hybrid positions, NaN where the item is unknown: F(i) . v - mu . v with
        v = whiten u, one product over the raw rows."""
        v = self.whiten @ unit
        rows = self.rows[positions if self.align is None else np.maximum(self.align[positions], 0)]
        z = (rows @ v.astype(np.float32)) - np.float32(self.mean @ v)
        z[~self.known[positions]] = np.nan
        return z


class BlendIndex:
    """The stacked whitened rows of a hybrid's linear components, clustered for retrieval."""

    def __init__(
        self,
        blocks: Sequence[Block],
        weights: Mapping[str, float],
        content: str | None,
        scan: int,
        assignment: np.ndarray | None = None,
        seed: int = 42,
    ):
        self.blocks = list(blocks)
        self.weights = {b.name: float(weights.get(b.name, 0.0)) for b in self.blocks}
        self.content = content
        self.scan = int(scan)
        n = len(self.blocks[0].known)
        if assignment is None:
            assignment = self._cluster(n, seed)
        self.assignment = np.asarray(assignment, dtype=np.int32)
        self.order = np.argsort(self.assignment, kind="stable")
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[self.order] = np.arange(n)
        sizes = np.bincount(self.assignment)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.stacked = self._stack(self.order)
        self.centroids = np.zeros((len(sizes), self.stacked.shape[1]), dtype=np.float32)
        for c in np.flatnonzero(sizes):
            self.centroids[c] = self.stacked[self.bounds[c] : self.bounds[c + 1]].mean(axis=0)

    # -- building -----------------------------------------------------------------------

    def _stack(self, positions: np.ndarray) -> np.ndarray:
        """Stacked rows for hybrid positions: w_c W_c per collaborative block; the content block
        times its own weight plus the weights of the blocks that do not know the item."""
        out = np.empty((len(positions), sum(b.whiten.shape[1] for b in self.blocks)), dtype=np.float32)
        for start in range(0, len(positions), ROWS_PER_CHUNK):
            chunk = positions[start : start + ROWS_PER_CHUNK]
            parts = []
            for block in self.blocks:
                scale = np.full(len(chunk), self.weights[block.name], dtype=np.float32)
                if block.name == self.content:
                    for other in self.blocks:
                        if other.name != self.content:
                            scale += self.weights[other.name] * ~other.known[chunk]
                parts.append(block.whitened(chunk) * scale[:, None])
            out[start : start + len(chunk)] = np.hstack(parts)
        return out

    def _cluster(self, n: int, seed: int) -> np.ndarray:
        """k-means (about sqrt(n) clusters) on a sample of the stacked rows, then every item
        assigned to its nearest centroid; one cluster when the scan covers the catalogue."""
        if n <= self.scan:
            return np.zeros(n, dtype=np.int32)
        k = int(np.ceil(np.sqrt(n)))
        rng = np.random.default_rng(seed)
        sample = self._stack(np.sort(rng.choice(n, min(n, k * KMEANS_SAMPLE_PER_CLUSTER), replace=False)))
        centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
        for _ in range(KMEANS_ITERATIONS):
            nearest = _nearest(sample, centroids)
            counts = np.bincount(nearest, minlength=k)
            sums = np.zeros_like(centroids, dtype=np.float64)
            np.add.at(sums, nearest, sample)
            filled = counts > 0
            centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        assignment = np.empty(n, dtype=np.int32)
        for start in range(0, n, ROWS_PER_CHUNK):
            chunk = np.arange(start, min(n, start + ROWS_PER_CHUNK))
            assignment[chunk] = _nearest(self._stack(chunk), centroids)
        return assignment

    # -- searching ----------------------------------------------------------------------

    def units(self, queries: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {b.name: b.unit_query(queries[b.name]) for b in self.blocks}

    def search(self, units: Mapping[str, np.ndarray], k: int, blocked: np.ndarray | None = None) -> np.ndarray:
        """Hybrid positions of the k best unblocked items among the scanned clusters, best first."""
        query = np.concatenate([units[b.name] for b in self.blocks])
        clusters = np.argsort(-(self.centroids @ query), kind="stable")
        sizes = self.bounds[clusters + 1] - self.bounds[clusters]
        clusters = clusters[: int(np.searchsorted(np.cumsum(sizes), self.scan)) + 1]
        scores = np.concatenate([self.stacked[self.bounds[c] : self.bounds[c + 1]] @ query for c in clusters])
        # Where each scanned cluster starts in `scores`, to find blocked items without a search.
        starts = np.full(len(self.centroids), -1, dtype=np.int64)
        starts[clusters] = np.concatenate([[0], np.cumsum(sizes[: len(clusters) - 1])])
        if blocked is not None and len(blocked):
            cluster = self.assignment[blocked]
            scanned = starts[cluster] >= 0
            rows = self.rank[blocked[scanned]]
            scores[starts[cluster[scanned]] + rows - self.bounds[cluster[scanned]]] = -np.inf
        top = top_k_indices(scores, min(k, len(scores)))[0]
        top = top[np.isfinite(scores[top])]
        # Back from places in `scores` to rows of the stacked matrix, then to hybrid positions.
        owner = np.searchsorted(starts[clusters], top, side="right") - 1
        return self.order[self.bounds[clusters[owner]] + top - starts[clusters[owner]]]

    def contributions(
        self, positions: np.ndarray, units: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Each component's weighted z-score at these positions (the content z where a component
        does not know the item), and the content z itself (NaN without a content block)."""
        z = {b.name: b.zscores(positions, units[b.name]) for b in self.blocks}
        content_z = z.get(self.content, np.full(len(positions), np.nan, dtype=np.float32))
        weighted = {
            name: self.weights[name] * np.nan_to_num(np.where(np.isnan(v), content_z, v)) for name, v in z.items()
        }
        return weighted, content_z


def _nearest(rows: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.argmax(rows @ centroids.T - 0.5 * (centroids**2).sum(axis=1), axis=1)
