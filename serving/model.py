"""The served hybrid behind one small interface: recommend for a listener, find similar tracks.

The registered pyfunc's `predict` takes one row per listener (user_id, n, context: recent track
ids newest last, exclude, and skipped where its signature declares it) and returns rows of
item_id, score, reason, cold_start. A Python model that also offers `recommend_one(user_id, n,
context=, exclude=, skipped=)` (the hybrid's per-request path, the same answer without a pandas
input frame) is called through that instead, and the hybrid's own `recommend_arrays` (the same
answer as arrays, without building a frame per request) before either.

Content-based neighbours come from the Python model's `similar_tracks(track_id, n)` or, for the
hybrid, from its content component's `similar_items(item_id, n)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException

from hz45.errors import Hz45Error


class UnknownTrack(KeyError):
    """The track is not in the served model's catalogue."""


class NoSimilarTracks(Exception):
    """The served model has no content component to find neighbours with."""


@dataclass(frozen=True)
class Ranked:
    item_id: int
    score: float
    reason: str


@dataclass(frozen=True)
class Recommendations:
    items: list[Ranked]
    cold_start: bool


def _python_model(pyfunc: Any) -> Any | None:
    try:
        return pyfunc.unwrap_python_model()
    except MlflowException:  # another flavour: only `predict` is there
        return None


def _similar_source(python_model: Any) -> Callable[[int, int], pd.DataFrame] | None:
    if hasattr(python_model, "similar_tracks"):
        return python_model.similar_tracks
    for part in getattr(getattr(python_model, "model", None), "parts", {}).values():
        if hasattr(part, "similar_items"):
            return part.similar_items
    return None


def _ranked(out: pd.DataFrame, default_reason: str) -> list[Ranked]:
    reasons = out["reason"].tolist() if "reason" in out else [default_reason] * len(out)
    return [
        Ranked(int(i), float(s), str(r)) for i, s, r in zip(out["item_id"].tolist(), out["score"].tolist(), reasons)
    ]


class ServedModel:
    def __init__(self, pyfunc: Any):
        self.pyfunc = pyfunc
        python_model = _python_model(pyfunc)
        self._recommend_one = getattr(python_model, "recommend_one", None)
        self._recommend_arrays = getattr(getattr(python_model, "model", None), "recommend_arrays", None)
        self._similar = _similar_source(python_model)
        schema = pyfunc.metadata.get_input_schema()
        self.takes_skipped = schema is not None and "skipped" in schema.input_names()

    def recommend(
        self, user_id: int, n: int, context: list[int], exclude: list[int], skipped: list[int] = ()
    ) -> Recommendations:
        skipped = list(skipped) if self.takes_skipped else []
        if self._recommend_arrays is not None:
            ids, scores, reasons, cold = self._recommend_arrays(
                user_id, n, context=context, exclude=exclude, skipped=skipped
            )
            items = [Ranked(int(i), float(s), str(r)) for i, s, r in zip(ids.tolist(), scores.tolist(), reasons)][:n]
            return Recommendations(items=items, cold_start=bool(cold) and bool(items))
        if self._recommend_one is not None:
            out = self._recommend_one(user_id, n, context=context, exclude=exclude, skipped=skipped)
        else:
            row = {"user_id": [user_id], "n": [n], "context": [context], "exclude": [exclude]}
            if self.takes_skipped:
                row["skipped"] = [skipped]
            out = self.pyfunc.predict(pd.DataFrame(row))
        items = _ranked(out, "")[:n]
        return Recommendations(items=items, cold_start=bool(len(out) and out["cold_start"].any()))

    def similar(self, track_id: int, n: int) -> list[Ranked]:
        if self._similar is None:
            raise NoSimilarTracks("the served model has no content component for similar tracks")
        try:
            out = self._similar(track_id, n)
        except (KeyError, Hz45Error):  # the hybrid's content part raises ModelError for an unknown item
            raise UnknownTrack(track_id) from None
        return _ranked(out, "similar in sound and genre")
