"""The hybrid as one MLflow pyfunc: its component models and catalogue travel as artifacts, the
`training` and `hz45` packages as code, so `mlflow.pyfunc.load_model(uri)` is all a server needs.

Input: one row per request: user_id (long), and optionally n (long, default 10, at most
MAX_N), context (array of recent track ids, newest last), exclude (track ids never to return),
skipped (recently skipped track ids). Output: the requests' lists, ranked: user_id, rank,
item_id, score, reason, cold_start.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Schema

from training.base import ModelError
from training.models.hybrid import Hybrid

ARTIFACT = "hybrid"
DEFAULT_N = 10
MAX_N = 100
PACKAGES = ("training", "hz45")
REQUIREMENTS = (
    "numpy", "pandas", "scipy", "pyarrow", "pydantic", "pyyaml", "threadpoolctl",
    "scikit-surprise", "tensorflow-cpu", "mlflow",
)  # fmt: skip
OUTPUT_COLUMNS = ["user_id", "rank", "item_id", "score", "reason", "cold_start"]

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec("long", "user_id"),
            ColSpec("long", "n", required=False),
            ColSpec(Array("long"), "context", required=False),
            ColSpec(Array("long"), "exclude", required=False),
            ColSpec(Array("long"), "skipped", required=False),
        ]
    ),
    outputs=Schema(
        [
            ColSpec("long", "user_id"),
            ColSpec("long", "rank"),
            ColSpec("long", "item_id"),
            ColSpec("double", "score"),
            ColSpec("string", "reason"),
            ColSpec("boolean", "cold_start"),
        ]
    ),
)


class HybridPyfunc(mlflow.pyfunc.PythonModel):
    """Serves a saved Hybrid; `recommend_one` is the per-request path without pandas input."""

    def load_context(self, context) -> None:
        self.model = Hybrid.load(context.artifacts[ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if "user_id" not in model_input.columns:
            raise ModelError("recommendation request: missing column user_id")
        lists = []
        for row in model_input.to_dict("records"):
            lists.append(
                self.recommend_one(
                    int(row["user_id"]),
                    _n(row.get("n")),
                    context=_ids(row.get("context")),
                    exclude=_ids(row.get("exclude")),
                    skipped=_ids(row.get("skipped")),
                )
            )
        return pd.concat(lists, ignore_index=True) if lists else pd.DataFrame(columns=OUTPUT_COLUMNS)

    def recommend_one(self, user_id: int, n: int = DEFAULT_N, *, context=(), exclude=(), skipped=()) -> pd.DataFrame:
        ids, scores, reasons, cold = self.model.recommend_arrays(
            user_id, n, exclude=exclude, context=context, skipped=skipped
        )
        return pd.DataFrame(
            {
                "user_id": np.full(len(ids), user_id, dtype=np.int64),
                "rank": np.arange(1, len(ids) + 1, dtype=np.int64),
                "item_id": ids,
                "score": scores.astype(np.float64),
                "reason": reasons,
                "cold_start": np.full(len(ids), cold),
            }
        )


def _n(value: Any) -> int:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return DEFAULT_N
    n = int(value)
    if not 1 <= n <= MAX_N:
        raise ModelError(f"recommendation request: n={n} is out of range", f"1..{MAX_N}")
    return n


def _ids(value: Any) -> list[int]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [int(x) for x in value]


def input_example(hybrid: Hybrid) -> pd.DataFrame:
    """A known listener with context and an exclusion, and a listener never seen before."""
    known = int(hybrid.users.ids[0])
    tracks = [int(x) for x in hybrid.items.ids[:3]]
    return pd.DataFrame(
        {
            "user_id": [known, int(hybrid.users.ids.max()) + 1],
            "n": [10, 5],
            "context": [tracks[:2], tracks[:1]],
            "exclude": [tracks[2:3], []],
            "skipped": [[], []],
        }
    )


def _requirements() -> list[str]:
    return [f"{pkg}=={version(pkg)}" for pkg in REQUIREMENTS]


def _code_paths() -> list[str]:
    root = Path(__file__).resolve().parents[1]
    return [str(root / pkg) for pkg in PACKAGES]


def _pyfunc_kwargs(hybrid: Hybrid, workdir: Path) -> dict[str, Any]:
    saved = hybrid.save(workdir / ARTIFACT)
    return {
        "python_model": HybridPyfunc(),
        "artifacts": {ARTIFACT: str(saved)},
        "signature": SIGNATURE,
        "input_example": input_example(hybrid),
        "code_paths": _code_paths(),
        "pip_requirements": _requirements(),
    }


def build_hybrid_pyfunc(hybrid: Hybrid, path: str | Path) -> Path:
    """Write the fitted hybrid as an MLflow pyfunc model directory at `path`."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(path), **_pyfunc_kwargs(hybrid, Path(tmp)))
    return path


def log_hybrid(hybrid: Hybrid, name: str = "hybrid", registered_model_name: str | None = None, **kwargs: Any):
    """Log the fitted hybrid as a pyfunc to the active MLflow run (tracking URI as configured by
    the caller); registers a version when `registered_model_name` is given. Extra keyword
    arguments go to mlflow.pyfunc.log_model (e.g. metadata, tags). Returns the ModelInfo."""
    with tempfile.TemporaryDirectory() as tmp:
        return mlflow.pyfunc.log_model(
            name=name, registered_model_name=registered_model_name, **_pyfunc_kwargs(hybrid, Path(tmp)), **kwargs
        )
