"""A small but genuine recommender registered as an MLflow pyfunc with the served hybrid's
interface, for the serving tests: item co-occurrence over the listener's history and recent
context, popularity for cold start, genre cosine for similar tracks. Fitted on a real dataset.

Logged with `code_paths` so a Serve replica can load it knowing nothing but the registry URI.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from hz45.catalog.base import Dataset


def fit_tables(dataset: Dataset, out: Path, context_weight: float) -> Path:
    """Co-occurrence, popularity, histories and genre vectors of a dataset, saved as one .npz."""
    items = dataset.items.sort_values("item_id").reset_index(drop=True)
    item_ids = items["item_id"].to_numpy(np.int64)
    pos = pd.Series(np.arange(len(item_ids)), index=item_ids)
    inter = dataset.interactions
    users = np.sort(inter["user_id"].unique())
    upos = pd.Series(np.arange(len(users)), index=users)
    seen = np.zeros((len(users), len(item_ids)), dtype=np.float32)
    seen[upos[inter["user_id"]].to_numpy(), pos[inter["item_id"]].to_numpy()] = 1.0
    cooc = seen.T @ seen
    np.fill_diagonal(cooc, 0.0)
    genres = sorted({g for gs in items["genres"] for g in gs})
    gvec = np.array([[g in set(gs) for g in genres] for gs in items["genres"]], dtype=np.float32)
    gvec /= np.maximum(np.linalg.norm(gvec, axis=1, keepdims=True), 1e-9)
    path = out / "tables.npz"
    np.savez(
        path,
        item_ids=item_ids,
        titles=items["title"].to_numpy(dtype=str),
        users=users,
        seen=seen.astype(bool),
        cooc=cooc / max(float(cooc.max()), 1.0),
        popularity=seen.sum(axis=0),
        genres=gvec,
        context_weight=np.float32(context_weight),
    )
    return path


class CooccurrenceModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        t = np.load(context.artifacts["tables"], allow_pickle=False)
        self.item_ids, self.titles = t["item_ids"], t["titles"]
        self.pos = {int(i): p for p, i in enumerate(self.item_ids)}
        self.upos = {int(u): p for p, u in enumerate(t["users"])}
        self.seen, self.cooc, self.genres = t["seen"], t["cooc"], t["genres"]
        self.popularity = t["popularity"] / max(float(t["popularity"].max()), 1.0)
        self.context_weight = float(t["context_weight"])

    def _positions(self, ids) -> list[int]:
        return [self.pos[int(i)] for i in ids if int(i) in self.pos]

    def _one(self, user_id: int, n: int, context, exclude) -> pd.DataFrame:
        upos = self.upos.get(int(user_id))
        history = list(np.flatnonzero(self.seen[upos])) if upos is not None else []
        recent = self._positions(context)
        cold = upos is None
        sources = history + recent
        weights = np.array([1.0] * len(history) + [self.context_weight] * len(recent), dtype=np.float32)
        if sources:
            contrib = self.cooc[sources] * weights[:, None]
            scores = contrib.sum(axis=0) + 1e-3 * self.popularity
        else:
            contrib, scores = None, self.popularity.astype(np.float32).copy()
        banned = set(history) | set(recent) | set(self._positions(exclude))
        if banned:
            scores[list(banned)] = -np.inf
        top = np.argsort(-scores, kind="stable")[:n]
        top = top[np.isfinite(scores[top])]
        reasons = []
        for p in top:
            if contrib is None:
                reasons.append("popular with listeners")
            else:
                src = sources[int(np.argmax(contrib[:, p]))]
                reasons.append(f"often played with {self.titles[src]}")
        return pd.DataFrame(
            {"item_id": self.item_ids[top], "score": scores[top].astype(float), "reason": reasons, "cold_start": cold}
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frames = [
            self._one(r.user_id, int(r.n), list(r.context), list(r.exclude)).assign(user_id=r.user_id)
            for r in model_input.itertuples(index=False)
        ]
        return pd.concat(frames, ignore_index=True)

    def similar_tracks(self, track_id: int, n: int) -> pd.DataFrame:
        p = self.pos[int(track_id)]  # KeyError for a track outside the catalogue
        sims = self.genres @ self.genres[p] + 1e-3 * self.popularity
        sims[p] = -np.inf
        top = np.argsort(-sims, kind="stable")[:n]
        return pd.DataFrame({"item_id": self.item_ids[top], "score": sims[top].astype(float)})


def register(dataset: Dataset, tracking_uri: str, name: str, workdir: Path, context_weight: float = 3.0) -> str:
    """Fit, log and register one version; returns the version number (no alias is set)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tables = fit_tables(dataset, workdir, context_weight)
    example = pd.DataFrame({"user_id": [1], "n": [3], "context": [[1, 2]], "exclude": [[3]]})
    fitted = CooccurrenceModel()
    fitted.load_context(type("Ctx", (), {"artifacts": {"tables": str(tables)}})())
    signature = infer_signature(example, fitted.predict(None, example))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if mlflow.get_experiment_by_name("serving-tests") is None:
        mlflow.create_experiment("serving-tests", artifact_location=str(workdir.parent / "artifacts"))
    mlflow.set_experiment("serving-tests")
    with mlflow.start_run():
        mlflow.log_metric("context_weight", context_weight)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CooccurrenceModel(),
            artifacts={"tables": str(tables)},
            code_paths=[__file__],
            signature=signature,
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def promote(tracking_uri: str, name: str, version: str, alias: str = "champion") -> None:
    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(name, alias, version)
