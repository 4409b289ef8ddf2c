"""The served hybrid behind one small interface: recommend for a listener, find similar tracks.

The registered pyfunc's `predict` takes one row per listener (user_id, n, context, exclude and,
when its signature declares them, online feature columns) and returns rows of item_id, score,
reason, cold_start. Content-based neighbours come from the wrapped Python model's
`similar_tracks(track_id, n)`, which returns rows of item_id, score and raises KeyError for a
track outside its catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

REQUIRED_COLUMNS = ("user_id", "n", "context", "exclude")


class UnknownTrack(KeyError):
    """The track is not in the served model's catalogue."""


@dataclass(frozen=True)
class Ranked:
    item_id: int
    score: float
    reason: str


@dataclass(frozen=True)
class Recommendations:
    items: list[Ranked]
    cold_start: bool


class ServedModel:
    def __init__(self, pyfunc: Any):
        self.pyfunc = pyfunc
        schema = pyfunc.metadata.get_input_schema()
        names = schema.input_names() if schema is not None else list(REQUIRED_COLUMNS)
        # Feature columns are passed only when the model declares them: MLflow warns on, and
        # ignores, undeclared inputs.
        self.feature_columns = tuple(c for c in names if c not in REQUIRED_COLUMNS)

    def recommend(
        self,
        user_id: int,
        n: int,
        context: list[int],
        exclude: list[int],
        features: dict[str, Any] | None = None,
    ) -> Recommendations:
        row: dict[str, list] = {"user_id": [user_id], "n": [n], "context": [context], "exclude": [exclude]}
        for column in self.feature_columns:
            if features and column in features:
                row[column] = [features[column]]
        out = self.pyfunc.predict(pd.DataFrame(row))
        items = [
            Ranked(int(i), float(s), str(r))
            for i, s, r in zip(out["item_id"].tolist(), out["score"].tolist(), out["reason"].tolist())
        ]
        return Recommendations(items=items[:n], cold_start=bool(len(out) and out["cold_start"].any()))

    def similar(self, track_id: int, n: int) -> list[Ranked]:
        try:
            out = self.pyfunc.unwrap_python_model().similar_tracks(track_id, n)
        except KeyError:
            raise UnknownTrack(track_id) from None
        reasons = out["reason"].tolist() if "reason" in out else ["similar content"] * len(out)
        return [Ranked(int(i), float(s), str(r)) for i, s, r in zip(out["item_id"], out["score"], reasons)]
