"""Registers the real hybrid (training's builder and pyfunc packaging) into a temporary MLflow
registry for the serving tests: implicit ALS + content-based on a real dataset, small enough to
fit in seconds. Serving loads it knowing nothing but the registry URI."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from hz45.catalog.base import Dataset
from training.models.hybrid import Hybrid
from training.pyfunc import log_hybrid

EXPERIMENT = "serving-tests"


def fit_hybrid(dataset: Dataset, factors: int) -> Hybrid:
    hybrid = Hybrid(components={"als": {"factors": factors, "iterations": 5}, "content": {}}, max_validation_users=200)
    return hybrid.fit(dataset.interactions, items=dataset.items)


def register(dataset: Dataset, tracking_uri: str, name: str, workdir: Path, factors: int = 32) -> str:
    """Fit, log and register one version (no alias is set); returns its version number."""
    hybrid = fit_hybrid(dataset, factors)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=str(workdir / "artifacts"))
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run():
        mlflow.log_param("als_factors", factors)
        mlflow.log_metrics({f"blend_weight_{k}": v for k, v in hybrid.weights.items()})
        info = log_hybrid(hybrid, registered_model_name=name)
    return str(info.registered_model_version)


def promote(tracking_uri: str, name: str, version: str, alias: str = "champion") -> None:
    """Move the alias, as `hz45 promote` does once the gate has passed."""
    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(name, alias, version)
