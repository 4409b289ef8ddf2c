"""One trial, as it runs in a Ray worker: fit the model the sampled config describes, report every
epoch to Ray Tune (ASHA decides on these) and to the trial's MLflow child run (step = epoch),
then score it on the validation rows, log metrics, plots and the fitted model, and end the run.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import DatasetInput, InputTag, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from experiments import plots
from experiments.data import SweepData
from experiments.evaluate import evaluate_fitted
from experiments.spaces import SearchSpace
from experiments.tracking import (
    KIND_TAG,
    MODEL_TAG,
    STOPPED_EARLY_TAG,
    TRIAL_TAG,
    log_metrics,
    log_params,
    metric_name,
    set_tags,
    start_child,
)
from training import limit_threads
from training.base import Recommender
from training.models import make_model

# Constructor arguments that mean the same thing under different names, logged under one name
# so the MLflow compare view lines SVD and NCF trials up.
CANONICAL_PARAMS = {
    "n_factors": "factors",
    "n_epochs": "epochs",
    "lr_all": "learning_rate",
    "reg_all": "regularization",
    "l2": "regularization",
}
FINAL_STEP_TAG = "hz45.final_step"
MODEL_ARTIFACTS = "model"


def model_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A model's keyword arguments as MLflow params: `model.<canonical name>`."""
    out: dict[str, Any] = {"model.name": name}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update({f"model.{key}.{k}": v for k, v in value.items()})
        else:
            out[f"model.{CANONICAL_PARAMS.get(key, key)}"] = value
    return out


def fit_model(model: str, params: dict[str, Any], data: SweepData, callbacks) -> Recommender:
    """The default trial `train` hook: a new model fitted on the trial rows; epoch-based models
    validate on the validation rows after every epoch and call `callbacks`."""
    fitted = make_model(model, **params)
    if fitted.epoch_based:
        return fitted.fit(data.train, items=data.items, valid=data.valid, callbacks=callbacks)
    return fitted.fit(data.train, items=data.items)


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs, shipped once through Ray's object store."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    space: SearchSpace
    data: SweepData
    k: int
    seed: int
    threads: int
    plots: bool
    tags: dict[str, str] = field(default_factory=dict)
    # (model name, params, data, epoch callbacks) -> fitted model; the blend sweep sets weights here.
    train: Callable[[str, dict[str, Any], SweepData, list], Recommender] = fit_model
    inputs: list = field(default_factory=list)


def run_trial(config: dict[str, Any], job: TrialJob) -> None:
    """The Ray Tune function trainable (bound to its job with tune.with_parameters)."""
    from ray import tune

    limit_threads(job.threads)
    trial_id = tune.get_context().get_trial_id()
    client = MlflowClient(tracking_uri=job.tracking_uri, registry_uri=job.tracking_uri)
    run_id = start_child(
        client,
        job.experiment_id,
        job.parent_run_id,
        f"{job.space.model}-{trial_id}",
        {**job.tags, TRIAL_TAG: trial_id, KIND_TAG: "trial", MODEL_TAG: job.space.model},
    )
    try:
        final = _fit_and_log(client, run_id, config, job, tune.report)
    except SystemExit:
        # Ray Tune ends a trial it stops (ASHA) by raising SystemExit in its waiting tune.report.
        client.set_tag(run_id, STOPPED_EARLY_TAG, "true")
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        raise
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    # Ended before the last report: after it, a worker may never run again (ASHA, end of sweep).
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    tune.report(final)


def _fit_and_log(client: MlflowClient, run_id: str, config: dict[str, Any], job: TrialJob, report) -> dict:
    params = job.space.decode(config)
    client.log_inputs(
        run_id,
        datasets=[DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, context)]) for entity, context in job.inputs],
    )
    log_params(client, run_id, {**model_params(job.space.model, params), **job.data.params()})
    history: list[dict[str, float]] = []

    def on_epoch(epoch: int, metrics: Mapping[str, float]) -> None:
        named = {metric_name(k): float(v) for k, v in metrics.items()}
        log_metrics(client, run_id, named, step=epoch)
        history.append({"epoch": epoch, **named})
        report(_objective_first({**named, "epoch": epoch}, job.space.metric))

    start = time.perf_counter()
    model = job.train(job.space.model, params, job.data, [on_epoch])
    train_seconds = time.perf_counter() - start
    evaluation = evaluate_fitted(model, job.data.train, job.data.valid, job.data.items, job.k, job.seed)
    final = {**evaluation.metrics, "train_seconds": train_seconds, "epochs_trained": len(history)}
    step = len(history)
    log_metrics(client, run_id, final, step=step)
    set_tags(client, run_id, {FINAL_STEP_TAG: step})

    with tempfile.TemporaryDirectory(prefix="hz45-trial-") as tmp:
        out = Path(tmp)
        (out / "params.json").write_text(json.dumps(params, indent=2, default=str))
        evaluation.by_activity.to_csv(out / "metrics_by_activity.csv", index=False)
        client.log_artifact(run_id, str(out / "params.json"))
        client.log_artifact(run_id, str(out / "metrics_by_activity.csv"))
        if job.plots:
            figures = out / "plots"
            figures.mkdir()
            if history:
                plots.learning_curve(pd.DataFrame(history), figures / "learning_curve.png")
            plots.predicted_vs_actual(evaluation.predicted, figures / "predicted_vs_actual.png", model.predicts_ratings)
            plots.by_activity(evaluation.by_activity, figures / "metric_by_user_activity.png")
            client.log_artifacts(run_id, str(figures), "plots")
        model.save(out / MODEL_ARTIFACTS)
        client.log_artifacts(run_id, str(out / MODEL_ARTIFACTS), MODEL_ARTIFACTS)
    # NaN (diversity without audio features) is not a result.
    return _objective_first({k: v for k, v in final.items() if v == v}, job.space.metric)


def _objective_first(metrics: dict[str, float], objective: str) -> dict[str, float]:
    """Ray Tune's progress table shows the first few metrics of a result: lead with the objective."""
    return {objective: metrics[objective], **metrics} if objective in metrics else metrics
