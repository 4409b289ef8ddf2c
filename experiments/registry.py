"""The model registry (aliases, not stages): each sweep's best trial becomes a version of its
model (hz45-svd, hz45-ncf); the hybrid is assembled from registered component versions, its
blend weights fitted (or taken from a blend sweep), and registered as hz45-hybrid with the alias
`challenger`. Every version carries its signature, input example, metrics (through its logged
model) and its run.
"""

from __future__ import annotations

import copy
import io
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import DatasetInput, InputTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from hz45.errors import Hz45Error
from hz45.settings import Settings, get_settings
from experiments import plots
from experiments.components import load_component, log_component
from experiments.config import TuningConfig, tuning_config
from experiments.data import DATASET_TAG, DataRef, SweepData, sweep_data
from experiments.evaluate import evaluate_fitted
from experiments.tracking import (
    BEST_RUN_TAG,
    KIND_TAG,
    MODEL_TAG,
    client_for,
    experiment_id,
    git_tags,
    log_params,
    metric_name,
    resumed_run,
    tracking_uri,
)
from experiments.trial import FINAL_STEP_TAG, MODEL_ARTIFACTS, model_params
from training.base import Recommender, load_model
from training.models import make_model
from training.models.hybrid import Hybrid
from training.pyfunc import log_hybrid

CHALLENGER = "challenger"
CHAMPION = "champion"
# Components the hybrid fits itself at assembly (cheap, not swept); SVD and NCF come registered.
FITTED_AT_ASSEMBLY = ("als", "content")
REGISTERED_COMPONENTS = ("svd", "ncf")
HOLDOUT_TAG = "hz45.holdout_digest"


def registered_name(model: str, tuning: TuningConfig) -> str:
    if model not in ("svd", "ncf", "hybrid"):
        raise Hz45Error(f"no registered model for '{model}'", "one of svd, ncf, hybrid")
    return getattr(tuning.registry, model)


def latest_sweep(client: MlflowClient, experiment: str, model: str) -> Any:
    runs = client.search_runs(
        [experiment],
        f"tags.`{KIND_TAG}` = 'sweep' and tags.`{MODEL_TAG}` = '{model}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise Hz45Error(f"no finished {model} sweep in MLflow", f"run `hz45 tune {model}` first")
    return runs[0]


def latest_version(client: MlflowClient, name: str) -> ModelVersion:
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise Hz45Error(f"model '{name}' has no registered version", "run `hz45 register` after a sweep")
    return max(versions, key=lambda v: int(v.version))


def register_best(model: str, sweep_run_id: str | None = None, settings: Settings | None = None) -> ModelVersion:
    """Register the best trial of a sweep (the latest finished `model` sweep by default) as a new
    version of the model's registered name, with signature, input example and metrics."""
    settings = settings or get_settings()
    tuning = tuning_config(settings)
    name = registered_name(model, tuning)
    client = client_for(settings)
    experiment = experiment_id(client, settings.mlflow.experiment, settings)
    sweep = client.get_run(sweep_run_id) if sweep_run_id else latest_sweep(client, experiment, model)
    if sweep.data.tags.get(MODEL_TAG) != model:
        raise Hz45Error(
            f"run {sweep.info.run_id} is not a {model} sweep", f"it is tagged {sweep.data.tags.get(MODEL_TAG)}"
        )
    if BEST_RUN_TAG not in sweep.data.tags:
        raise Hz45Error(f"sweep {sweep.info.run_id} has no best trial", "it did not finish; run a new sweep")
    best = client.get_run(sweep.data.tags[BEST_RUN_TAG])
    with tempfile.TemporaryDirectory(prefix="hz45-register-") as tmp:
        saved = Path(client.download_artifacts(best.info.run_id, MODEL_ARTIFACTS, tmp))
        fitted = load_model(saved)
        with resumed_run(client, best.info.run_id):
            # `step` links the trial's final metrics to the logged model, so the version shows them.
            info = log_component(saved, fitted, step=int(best.data.tags.get(FINAL_STEP_TAG, 0)))
    tags = {
        **DataRef.from_tags(sweep.data.tags).tags(),
        HOLDOUT_TAG: best.data.params.get("data.holdout_digest", ""),
        "hz45.sweep_run_id": sweep.info.run_id,
        MODEL_TAG: model,
    }
    metric = sweep.data.params.get("sweep.metric", "")
    description = (
        f"Best of sweep {sweep.info.run_name}: {metric} = {best.data.metrics.get(metric, float('nan')):.4f}. "
        f"Trial run: {run_link(client, best)}"
    )
    return _register(client, info.model_uri, name, tags, description, best.data.metrics)


def run_link(client: MlflowClient, run: Any) -> str:
    """The run's page when the tracking URI is a server, else its runs:/ URI."""
    uri = client.tracking_uri
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    return f"runs:/{run.info.run_id}"


def _register(
    client: MlflowClient, model_uri: str, name: str, tags: dict[str, str], description: str, scores: Mapping[str, float]
) -> ModelVersion:
    """A new version of `name`. Its metrics live on the logged model; they are copied into
    `hz45.metric.<name>` tags too, so the registry's version list shows them."""
    tags = {**tags, **{f"hz45.metric.{k}": f"{v:.6g}" for k, v in scores.items() if v == v}}
    version = mlflow.register_model(model_uri, name, tags=tags)
    client.update_model_version(name, version.version, description=description)
    return client.get_model_version(name, version.version)


# -- the hybrid ------------------------------------------------------------------------------


def component_versions(
    client: MlflowClient, tuning: TuningConfig, versions: Mapping[str, str | None] | None = None
) -> dict[str, ModelVersion]:
    """The registered SVD and NCF versions to assemble from (the latest unless given), which
    must come from the same data."""
    versions = versions or {}
    chosen = {}
    for model in REGISTERED_COMPONENTS:
        name = registered_name(model, tuning)
        wanted = versions.get(model)
        chosen[model] = client.get_model_version(name, str(wanted)) if wanted else latest_version(client, name)
    labels = {m: v.tags.get(DATASET_TAG) for m, v in chosen.items()}
    if len(set(labels.values())) != 1:
        raise Hz45Error(
            "registered components come from different data: "
            + ", ".join(f"{m} v{chosen[m].version} on {d}" for m, d in labels.items()),
            "register an SVD and an NCF swept on the same dataset",
        )
    return chosen


def assemble_hybrid(
    client: MlflowClient, chosen: Mapping[str, ModelVersion], data: SweepData, seed: int
) -> Hybrid:
    """Registered components plus ALS and content-based fitted on the same training rows; blend
    weights fitted on the validation rows."""
    parts: dict[str, Recommender] = {
        model: load_component(f"models:/{mv.name}/{mv.version}", client.tracking_uri) for model, mv in chosen.items()
    }
    for model in FITTED_AT_ASSEMBLY:
        parts[model] = make_model(model).fit(data.train, items=data.items)
    return Hybrid.assemble(parts, data.train, data.valid, data.items, seed=seed)


def hybrid_from_registry(
    client: MlflowClient, settings: Settings, versions: Mapping[str, str | None] | None = None
) -> tuple[dict[str, ModelVersion], SweepData, Hybrid]:
    """The component versions, the data they were swept on, and the hybrid assembled from them."""
    chosen = component_versions(client, tuning_config(settings), versions)
    data = sweep_data(DataRef.from_tags(next(iter(chosen.values())).tags), settings)
    return chosen, data, assemble_hybrid(client, chosen, data, tuning_config(settings).seed)


def with_weights(hybrid: Hybrid, weights: Mapping[str, float]) -> Hybrid:
    """A copy of a fitted hybrid blending with `weights` (normalised to sum 1) instead of its own."""
    unknown = sorted(set(weights) - set(hybrid.parts))
    if unknown:
        raise Hz45Error(f"blend weight '{unknown[0]}' names no component", f"components: {', '.join(hybrid.parts)}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise Hz45Error("blend weights must not all be zero")
    blended = copy.copy(hybrid)
    blended.weights = {name: float(weights.get(name, 0.0)) / total for name in hybrid.parts}
    return blended


def archive(model: Recommender) -> bytes:
    """A fitted model as one tar archive, to ship through Ray's object store to trial workers."""
    with tempfile.TemporaryDirectory(prefix="hz45-archive-") as tmp:
        model.save(Path(tmp) / "model")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(Path(tmp) / "model", arcname="model")
        return buffer.getvalue()


def unarchive(blob: bytes) -> Recommender:
    with tempfile.TemporaryDirectory(prefix="hz45-archive-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        return load_model(Path(tmp) / "model")


class BlendTrainer:
    """The trial `train` hook of a blend sweep: the assembled hybrid travels once as an archive;
    each trial only sets its blend weights (nothing is refitted)."""

    _loaded: dict[int, Hybrid] = {}  # per worker process: unpacked once, reused by its trials

    def __init__(self, hybrid: Hybrid):
        self.blob = archive(hybrid)

    def __call__(self, model: str, params: dict[str, Any], data: SweepData, callbacks) -> Recommender:
        key = hash(self.blob)
        if key not in self._loaded:
            self._loaded[key] = unarchive(self.blob)
        return with_weights(self._loaded[key], params.get("weights", {}))


def build_and_register_hybrid(
    versions: Mapping[str, str | None] | None = None,
    weights: Mapping[str, float] | None = None,
    blend_sweep_run_id: str | None = None,
    settings: Settings | None = None,
) -> ModelVersion:
    """Assemble the hybrid from registered SVD/NCF versions (latest unless `versions` names
    them), blend with fitted weights, or `weights`, or the best trial of a blend sweep; log it
    as a pyfunc in its own run and register it with the alias `challenger`."""
    settings = settings or get_settings()
    tuning = tuning_config(settings)
    client = client_for(settings)
    chosen, data, hybrid = hybrid_from_registry(client, settings, versions)
    ref = data.ref
    if blend_sweep_run_id:
        weights = blend_weights_of(client, blend_sweep_run_id)
    if weights:
        hybrid = with_weights(hybrid, weights)
    evaluation = evaluate_fitted(hybrid, data.train, data.valid, data.items, tuning.k, tuning.seed)
    experiment = experiment_id(client, settings.mlflow.experiment, settings)
    tags = {**git_tags(), KIND_TAG: "hybrid", MODEL_TAG: "hybrid", **ref.tags()}
    with mlflow.start_run(experiment_id=experiment, run_name=f"hybrid-{data.label}", tags=tags) as run:
        run_id = run.info.run_id
        log_params(client, run_id, {
            **model_params("hybrid", {"weights": hybrid.weights}),
            **{f"component.{m}.version": mv.version for m, mv in chosen.items()},
            **data.params(),
        })  # fmt: skip
        client.log_inputs(
            run_id, [DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, ctx)]) for entity, ctx in data.inputs()]
        )
        mlflow.log_metrics({metric_name(k): v for k, v in evaluation.metrics.items() if v == v})
        with tempfile.TemporaryDirectory(prefix="hz45-hybrid-") as tmp:
            plots.by_activity(evaluation.by_activity, Path(tmp) / "metric_by_user_activity.png")
            plots.predicted_vs_actual(evaluation.predicted, Path(tmp) / "predicted_vs_actual.png", ratings=False)
            mlflow.log_artifacts(tmp, "plots")
        info = log_hybrid(hybrid, name="model")
    version_tags = {
        **ref.tags(),
        HOLDOUT_TAG: data.holdout.digest,
        MODEL_TAG: "hybrid",
        "hz45.weights": ",".join(f"{k}={v:.4f}" for k, v in hybrid.weights.items()),
        **{f"hz45.component.{m}": f"{mv.name}/{mv.version}" for m, mv in chosen.items()},
    }
    description = (
        "Hybrid of " + ", ".join(f"{mv.name} v{mv.version}" for mv in chosen.values())
        + f" with ALS and content-based; validation nDCG@{tuning.k} = "
        + f"{evaluation.metrics.get(f'ndcg_at_{tuning.k}', float('nan')):.4f}. "
        + f"Run: {run_link(client, client.get_run(run_id))}"
    )
    version = _register(
        client, info.model_uri, registered_name("hybrid", tuning), version_tags, description, evaluation.metrics
    )
    client.set_registered_model_alias(version.name, CHALLENGER, version.version)
    return client.get_model_version(version.name, version.version)


def blend_weights_of(client: MlflowClient, sweep_run_id: str) -> dict[str, float]:
    """The blend weights of a blend sweep's best trial (params model.weights.<component>)."""
    sweep = client.get_run(sweep_run_id)
    if BEST_RUN_TAG not in sweep.data.tags:
        raise Hz45Error(f"run {sweep_run_id} is not a finished blend sweep")
    params = client.get_run(sweep.data.tags[BEST_RUN_TAG]).data.params
    prefix = "model.weights."
    return {k[len(prefix):]: float(v) for k, v in params.items() if k.startswith(prefix)}


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """alias -> version of a registered model ({} when it does not exist yet)."""
    try:
        return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}
    except mlflow.exceptions.MlflowException:
        return {}
