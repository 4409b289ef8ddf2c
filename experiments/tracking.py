"""MLflow tracking: where runs go, how sweep runs nest, and that none is left RUNNING.

A sweep is one parent run; each trial is a child run created in the Ray worker that runs it,
nested through the `mlflow.parentRunId` tag (the fluent `nested=True` only sees runs of its own
process). The driver closes whatever a worker could not: a trial ASHA stopped (its worker waits
forever in `tune.report`), a trial whose worker died, and every open child when the sweep ends,
fails or is interrupted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from hz45.errors import Hz45Error
from hz45.settings import ROOT, Settings

TRIAL_TAG = "hz45.trial_id"
KIND_TAG = "hz45.kind"
STOPPED_EARLY_TAG = "hz45.stopped_early"
MODEL_TAG = "hz45.model"
BEST_RUN_TAG = "hz45.best_run_id"
SQLITE = "sqlite:///"
# MLflow rejects params longer than this; long values go to the config artifact only.
MAX_PARAM = 6000


class Interrupted(Hz45Error):
    """The sweep was stopped by the user (Ctrl-C or SIGTERM)."""


def tracking_uri(settings: Settings) -> str:
    """The configured tracking URI; a relative SQLite path is taken from the repo root (and its
    folder created), so every process, whatever its working directory, opens the same store."""
    uri = settings.mlflow.tracking_uri
    if uri.startswith(SQLITE) and not uri[len(SQLITE):].startswith("/"):
        path = settings.path(uri[len(SQLITE):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLITE + str(path)
    return uri


def is_local_store(uri: str) -> bool:
    return uri.startswith((SQLITE, "file:")) or "://" not in uri


def client_for(settings: Settings) -> MlflowClient:
    """A client of the configured store. The process-wide URIs are set too: MLflow resolves
    `models:/` URIs and logs models through them whatever URI a call is given."""
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, name: str, settings: Settings) -> str:
    """The experiment's id, created on first use. With a local store its artifacts go under
    mlflow.artifact_root/<name>; a tracking server keeps its own artifact store."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if is_local_store(client.tracking_uri):
        location = (settings.path(settings.mlflow.artifact_root) / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


def git_tags() -> dict[str, str]:
    """The commit the code ran from, and whether the tree had uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {MLFLOW_GIT_COMMIT: commit, "hz45.git_dirty": str(dirty)}


def metric_name(name: str) -> str:
    """One spelling for every model: `ndcg@10` and `val_ndcg@10` -> `ndcg_at_10`."""
    return name.removeprefix("val_").replace("@", "_at_")


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    """Finite values only: a metric a model cannot have (RMSE of a ranking model) stays absent."""
    now = _now_ms()
    batch = [
        Metric(metric_name(k), float(v), now, step)
        for k, v in metrics.items()
        if v is not None and np.isfinite(float(v))
    ]
    if batch:
        client.log_batch(run_id, metrics=batch)


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    batch = [Param(k, _param_value(v)) for k, v in params.items()]
    for start in range(0, len(batch), 100):
        client.log_batch(run_id, params=batch[start : start + 100])


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, Any]) -> None:
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def _param_value(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return text[:MAX_PARAM]


def _now_ms() -> int:
    return int(time.time() * 1000)


def child_runs(client: MlflowClient, parent: Any, status: str | None = None) -> list:
    """The trial runs of a sweep (optionally only those in one status)."""
    query = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.info.run_id}'"
    if status:
        query += f" and attributes.status = '{status}'"
    return list(_search_all(client, parent.info.experiment_id, query))


def _search_all(client: MlflowClient, experiment: str, query: str, order_by: list[str] | None = None) -> Iterator:
    token = None
    while True:
        page = client.search_runs([experiment], query, max_results=1000, order_by=order_by, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def start_child(
    client: MlflowClient, experiment: str, parent_run_id: str, name: str, tags: Mapping[str, str]
) -> str:
    run = client.create_run(
        experiment, run_name=name, tags={**tags, MLFLOW_PARENT_RUN_ID: parent_run_id, MLFLOW_RUN_NAME: name}
    )
    return run.info.run_id


def close_trial(client: MlflowClient, parent: Any, trial_id: str, status: str, stopped_early: bool = False) -> None:
    """End a trial's child run if its worker left it open."""
    query = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.info.run_id}' and tags.`{TRIAL_TAG}` = '{trial_id}'"
    for run in _search_all(client, parent.info.experiment_id, query + " and attributes.status = 'RUNNING'"):
        if stopped_early:
            client.set_tag(run.info.run_id, STOPPED_EARLY_TAG, "true")
        client.set_terminated(run.info.run_id, status)


@contextmanager
def parent_run(client: MlflowClient, experiment: str, name: str, tags: Mapping[str, str]) -> Iterator[Any]:
    """A sweep's parent run. On exit every child still RUNNING and the parent itself are ended:
    FINISHED on success, KILLED on Ctrl-C/SIGTERM (or `Interrupted`), FAILED on any other error."""
    run = client.create_run(experiment, run_name=name, tags={**tags, MLFLOW_RUN_NAME: name})
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        with _sigterm_as_interrupt():
            yield run
        status = RunStatus.to_string(RunStatus.FINISHED)
    except (KeyboardInterrupt, Interrupted):
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    finally:
        # A trial still open here never finished: its worker was stopped with the sweep.
        for child in child_runs(client, run, "RUNNING"):
            client.set_terminated(child.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        client.set_terminated(run.info.run_id, status)


@contextmanager
def resumed_run(client: MlflowClient, run_id: str) -> Iterator[Any]:
    """Log to an existing (finished) run with the fluent API, restoring its end status after."""
    status = client.get_run(run_id).info.status
    active = mlflow.start_run(run_id=run_id)
    try:
        yield active
    finally:
        mlflow.end_run(status=status)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a sweep like Ctrl-C does, so `finally` blocks close its runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    return path
