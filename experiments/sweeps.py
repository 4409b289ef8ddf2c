"""Ray Tune sweeps: Optuna (TPE) proposes configs, ASHA stops weak epoch-based trials, every trial
is an MLflow child run of the sweep's parent run.

    tune_svd("ml-100k", trials=20)     # minimise validation RMSE
    tune_ncf("ml-100k", trials=8)      # maximise validation nDCG@10, ASHA on epochs
    tune_hybrid("ml-100k", trials=12)  # blend weights over registered components

`ray.address` in the configuration joins an existing cluster; otherwise Ray starts locally.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from hz45.errors import Hz45Error
from hz45.settings import Settings, get_settings
from experiments import plots
from experiments.config import TuningConfig, tuning_config
from experiments.data import DataRef, SweepData, sweep_data
from experiments.spaces import SearchSpace, load_space
from experiments.tracking import (
    BEST_RUN_TAG,
    KIND_TAG,
    MODEL_TAG,
    STOPPED_EARLY_TAG,
    Interrupted,
    child_runs,
    client_for,
    close_trial,
    experiment_id,
    git_tags,
    log_metrics,
    log_params,
    parent_run,
    set_tags,
    tracking_uri,
    write_json,
)
from experiments.trial import TrialJob, fit_model, run_trial
from training.models import MODELS

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class SweepResult:
    parent_run_id: str
    model: str
    dataset: str
    metric: str
    mode: str
    best_run_id: str
    best_metrics: dict[str, float]
    best_params: dict[str, str]
    finished: int
    stopped_early: int
    failed: int
    wall_seconds: float
    trial_seconds: list[float] = field(default_factory=list)

    @property
    def best_value(self) -> float:
        return self.best_metrics[self.metric]


def tune_svd(dataset: str = "ml-100k", trials: int = 20, users: int | None = None, **options: Any) -> SweepResult:
    """Sweep SVD's space (configs/search_spaces/svd.yaml). Options: see `run_sweep`."""
    return run_sweep("svd", DataRef(dataset, users), trials, **options)


def tune_ncf(dataset: str = "ml-100k", trials: int = 8, users: int | None = None, **options: Any) -> SweepResult:
    """Sweep neural CF's space (configs/search_spaces/ncf.yaml) with ASHA early stopping."""
    return run_sweep("ncf", DataRef(dataset, users), trials, **options)


def tune_hybrid(
    trials: int = 12, versions: dict[str, str | None] | None = None, settings: Settings | None = None, **options: Any
) -> SweepResult:
    """Sweep the hybrid's blend weights (configs/search_spaces/hybrid.yaml) over the registered
    SVD and NCF versions (the latest unless `versions` names them), on the data they were swept
    on. The first trial is the blend the hybrid fits itself, so the sweep shows what search adds."""
    from experiments.registry import BlendTrainer, hybrid_from_registry

    settings = settings or get_settings()
    chosen, data, hybrid = hybrid_from_registry(client_for(settings), settings, versions)
    space = options.pop("space", None) or load_named_space("hybrid", settings)
    fitted = [{name: hybrid.weights.get(name.removeprefix("weights."), 0.0) for name in space.params}]
    extra_tags = {f"hz45.component.{m}": f"{mv.name}/{mv.version}" for m, mv in chosen.items()}
    return run_sweep(
        "hybrid", data.ref, trials, space=space, data=data, train=BlendTrainer(hybrid), points=fitted,
        settings=settings, extra_tags=extra_tags, **options,
    )


def load_named_space(name: str, settings: Settings) -> SearchSpace:
    """configs/search_spaces/<name>.yaml (tuning.search_spaces), validated."""
    return load_space(settings.path(tuning_config(settings).search_spaces) / f"{name}.yaml")


def run_sweep(
    space_name: str,
    ref: DataRef,
    trials: int,
    *,
    space: SearchSpace | None = None,
    data: SweepData | None = None,
    max_concurrent: int | None = None,
    train=fit_model,
    points: list[dict[str, Any]] | None = None,
    extra_tags: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> SweepResult:
    """Run one sweep of `trials` configs of the space `space_name` on the data `ref` names.
    `space` replaces the YAML space, `data` the splits (when the caller has them already),
    `points` are configs to try first, `max_concurrent` overrides tuning.max_concurrent and
    `train` fits a trial's model (see TrialJob)."""
    if trials < 1:
        raise Hz45Error("--trials must be at least 1")
    settings = settings or get_settings()
    tuning = tuning_config(settings)
    space = space or load_named_space(space_name, settings)
    data = data or sweep_data(ref, settings)
    client = client_for(settings)
    experiment = experiment_id(client, settings.mlflow.experiment, settings)
    name = f"{space_name}-{data.label}-{datetime.now():%Y%m%d-%H%M%S}"
    tags = {**git_tags(), **ref.tags(), **(extra_tags or {}), KIND_TAG: "sweep", MODEL_TAG: space.model}
    concurrency = max_concurrent or tuning.max_concurrent
    inputs = data.inputs()

    with ray_session(settings), parent_run(client, experiment, name, tags) as parent:
        _log_sweep_setup(client, parent.info.run_id, space, data, tuning, trials, concurrency, inputs)
        job = TrialJob(
            tracking_uri=tracking_uri(settings),
            experiment_id=experiment,
            parent_run_id=parent.info.run_id,
            space=space,
            data=data,
            k=tuning.k,
            seed=tuning.seed,
            threads=max(1, int(tuning.resources_per_trial.get("cpu", 1))),
            plots=tuning.plots,
            tags={k: v for k, v in tags.items() if k != KIND_TAG},
            train=train,
            inputs=inputs,
        )
        closer = _closer(client, parent)
        start = time.perf_counter()
        _tuner(job, space, tuning, trials, concurrency, name, settings, [closer], points).fit()
        wall = time.perf_counter() - start
        if closer.ended < trials:
            raise Interrupted(f"sweep {name} interrupted after {closer.ended} of {trials} trials")
        return _summarise(client, parent, space, data, wall)


@contextmanager
def ray_session(settings: Settings) -> Iterator[None]:
    """Join ray.address when configured, else start Ray here; shut down only what was started."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = settings.ray.address
    if address:
        import experiments
        import hz45
        import training

        # Cluster nodes get this code with the job, so they need only the dependencies.
        ray.init(address=address, runtime_env={"py_modules": [hz45, training, experiments]}, log_to_driver=True)
    else:
        _start_local_ray(settings.ray.num_cpus)
    try:
        yield
    finally:
        ray.shutdown()


def _start_local_ray(num_cpus: int | None) -> None:
    """Start a local Ray. Its raylet must register within a fixed 30 s, which a busy machine can
    miss; one more try then usually succeeds."""
    import ray

    for attempt in (1, 2):
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
            return
        except Exception as exc:  # Ray raises a bare Exception on a startup timeout
            ray.shutdown()
            if attempt == 2:
                raise Hz45Error(f"Ray did not start: {exc}", "the machine may be overloaded; retry") from None
            log.warning("Ray did not start (%s); trying once more", exc)


def _closer(client, parent):
    from ray import tune

    class TrialRunCloser(tune.Callback):
        """Ends the child run of a trial its worker could not end (stopped by ASHA, crashed)."""

        def __init__(self) -> None:
            self.ended = 0

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.ended += 1
            close_trial(client, parent, trial.trial_id, "FINISHED", stopped_early=True)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.ended += 1
            close_trial(client, parent, trial.trial_id, "FAILED")

    return TrialRunCloser()


def _tuner(job, space, tuning: TuningConfig, trials, concurrency, name, settings, callbacks, points):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    epochs = space.upper("epochs")
    scheduler = FIFOScheduler()
    if MODELS[space.model].epoch_based:
        # One report per epoch plus the final evaluation: max_t leaves room for that last one.
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=int(epochs or 1) + 1,
            grace_period=min(tuning.asha.grace_period, int(epochs or 1)),
            reduction_factor=tuning.asha.reduction_factor,
        )
    trainable = tune.with_resources(tune.with_parameters(run_trial, job=job), tuning.resources_per_trial)
    return tune.Tuner(
        trainable,
        param_space=space.to_tune(),
        tune_config=tune.TuneConfig(
            metric=space.metric,
            mode=space.mode,
            search_alg=OptunaSearch(seed=tuning.seed, points_to_evaluate=points),
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=concurrency,
            reuse_actors=tuning.reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(settings.path(tuning.storage_dir)),
            verbose=tuning.verbose,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def _log_sweep_setup(client, run_id, space, data: SweepData, tuning, trials, concurrency, inputs) -> None:
    log_params(
        client,
        run_id,
        {
            "sweep.model": space.model,
            "sweep.metric": space.metric,
            "sweep.mode": space.mode,
            "sweep.trials": trials,
            "sweep.max_concurrent": concurrency,
            "sweep.search": "optuna-tpe",
            "sweep.scheduler": "asha" if MODELS[space.model].epoch_based else "fifo",
            **data.params(),
        },
    )
    client.log_inputs(
        run_id, datasets=[DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, ctx)]) for entity, ctx in inputs]
    )
    with tempfile.TemporaryDirectory(prefix="hz45-sweep-") as tmp:
        out = Path(tmp)
        (out / "search_space.yaml").write_text(yaml.safe_dump(space.model_dump(mode="json"), sort_keys=False))
        write_json(out / "tuning.json", tuning.model_dump(mode="json"))
        write_json(out / "holdout.json", {"label": data.holdout.label, "digest": data.holdout.digest,
                                          "source_digest": data.holdout.source_digest, "rows": len(data.holdout.rows)})
        client.log_artifacts(run_id, str(out), "config")


def _summarise(client, parent, space: SearchSpace, data: SweepData, wall: float) -> SweepResult:
    """Pick the best trial among those that finished (not stopped early) and record it on the parent."""
    runs = sorted(child_runs(client, parent), key=lambda r: r.info.start_time)
    done = [r for r in runs if r.info.status == "FINISHED" and r.data.tags.get(STOPPED_EARLY_TAG) != "true"]
    scored = [r for r in done if space.metric in r.data.metrics]
    failed = sum(r.info.status == "FAILED" for r in runs)
    if not scored:
        raise Hz45Error(f"sweep {parent.info.run_name}: no trial finished with {space.metric}",
                        f"{failed} failed; see the trial runs in MLflow")
    sign = 1 if space.mode == "min" else -1
    best = min(scored, key=lambda r: sign * r.data.metrics[space.metric])
    table = pd.DataFrame(
        [{"run_id": r.info.run_id, "status": r.info.status, **r.data.params, **r.data.metrics} for r in runs]
    )
    run_id = parent.info.run_id
    log_metrics(client, run_id, best.data.metrics)
    set_tags(client, run_id, {BEST_RUN_TAG: best.info.run_id, "hz45.trials_failed": failed})
    with tempfile.TemporaryDirectory(prefix="hz45-sweep-") as tmp:
        out = Path(tmp)
        table.to_csv(out / "trials.csv", index=False)
        client.log_artifact(run_id, str(out / "trials.csv"))
        finished = table.dropna(subset=[space.metric]) if space.metric in table else table.iloc[:0]
        if len(finished):
            figure = plots.sweep_progress(finished, space.metric, space.mode, out / "sweep_progress.png")
            client.log_artifact(run_id, str(figure), "plots")
    return SweepResult(
        parent_run_id=run_id,
        model=space.model,
        dataset=data.label,
        metric=space.metric,
        mode=space.mode,
        best_run_id=best.info.run_id,
        best_metrics=dict(best.data.metrics),
        best_params=dict(best.data.params),
        finished=len(done),
        stopped_early=sum(r.data.tags.get(STOPPED_EARLY_TAG) == "true" for r in runs),
        failed=failed,
        wall_seconds=wall,
        trial_seconds=[(r.info.end_time - r.info.start_time) / 1000 for r in runs if r.info.end_time],
    )
