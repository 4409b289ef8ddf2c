"""A fitted `training` model (SVD, neural CF) as an MLflow pyfunc, so each sweep's best trial is
registered with a signature and an input example, and the hybrid can be assembled from
registered versions: `mlflow.pyfunc.load_model(uri).unwrap_python_model().model`.

Input: user_id, item_id (long), one row per pair; output: score (double), a rating for rating
models. The `training`, `hz45` and this package travel as code, so loading needs nothing but the
registry URI. This module imports only mlflow, pandas and training, so loading stays light.
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
from mlflow.types.schema import ColSpec, Schema

from training.base import Recommender, load_model

ARTIFACT = "model"
PACKAGES = ("training", "hz45", "experiments")
REQUIREMENTS = ("numpy", "pandas", "scipy", "pydantic", "pyyaml", "threadpoolctl", "scikit-surprise",
                "tensorflow-cpu", "mlflow")  # fmt: skip

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", "user_id"), ColSpec("long", "item_id")]),
    outputs=Schema([ColSpec("double", "score")]),
)


class RecommenderPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.model: Recommender = load_model(context.artifacts[ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        users = model_input["user_id"].to_numpy(np.int64)
        scores = self.model.predict(users, model_input["item_id"].to_numpy(np.int64))
        return pd.DataFrame({"score": scores.astype(np.float64)})


def input_example(model: Recommender) -> pd.DataFrame:
    """Two known listeners with two known items each."""
    users = np.repeat(model.users.ids[:2], 2)
    items = np.tile(model.items.ids[:2], 2)
    return pd.DataFrame({"user_id": users.astype(np.int64), "item_id": items.astype(np.int64)})


def log_component(saved_model_dir: Path, model: Recommender, name: str = "model", **kwargs: Any):
    """Log a saved model as a pyfunc to the active run; returns the ModelInfo."""
    root = Path(__file__).resolve().parents[1]
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=RecommenderPyfunc(),
        artifacts={ARTIFACT: str(saved_model_dir)},
        signature=SIGNATURE,
        input_example=input_example(model),
        code_paths=[str(root / pkg) for pkg in PACKAGES],
        pip_requirements=[f"{pkg}=={version(pkg)}" for pkg in REQUIREMENTS],
        **kwargs,
    )


def load_component(uri: str, tracking_uri: str) -> Recommender:
    """The fitted model inside a registered component version (`models:/name/version`); models
    read all their state at load, so the downloaded files can go right after."""
    with tempfile.TemporaryDirectory(prefix="hz45-component-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
        return mlflow.pyfunc.load_model(local).unwrap_python_model().model
