"""Sweeps, registry and promotion on real Ray (local, 2 CPUs) and a real MLflow store (SQLite in
a temporary folder), on 120 listeners sampled from MovieLens-100K: parent/child runs, one set of
metric and parameter names, per-epoch history, dataset inputs, artifacts, no run left RUNNING
(after a failing trial and after Ctrl-C too), registered versions with signatures, the promotion
gate both ways, rollback, and the runs read back through `make mlflow-ui`'s server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from mlflow.models import Model, get_model_info
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID

from hz45.errors import Hz45Error
from hz45.settings import ROOT, load_settings
from experiments.data import DataRef
from experiments.promotion import HISTORY_TAG, promote, rollback
from experiments.registry import build_and_register_hybrid, register_best
from experiments.sweeps import load_named_space, ray_session, run_sweep, tune_hybrid
from experiments.tracking import client_for

pytestmark = pytest.mark.integration

USERS = 120
DATA = DataRef("ml-100k", USERS)
SHARED_METRICS = {"ndcg_at_10", "map_at_10", "precision_at_10", "recall_at_10", "hr_at_10", "coverage",
                  "novelty", "train_seconds"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("experiments")
    return {
        "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
        "HZ45_MLFLOW__ARTIFACT_ROOT": str(tmp / "artifacts"),
        "HZ45_PROMOTION__HOLDOUT__DIR": str(tmp / "holdout"),
        "HZ45_TUNING__STORAGE_DIR": str(tmp / "tune"),
        "HZ45_RAY__NUM_CPUS": "2",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


@pytest.fixture(scope="module")
def settings(env):
    return load_settings(environ={**os.environ, **env})


@pytest.fixture(scope="module")
def ray_cluster(settings):
    """One local Ray for the module (2 CPUs), shut down at its end."""
    import ray

    with ray_session(settings):
        yield ray.get_runtime_context().gcs_address


@pytest.fixture(scope="module")
def client(settings) -> MlflowClient:
    return client_for(settings)


@pytest.fixture(scope="module")
def svd_sweep(settings, ray_cluster):
    space = load_named_space("svd", settings)
    # Few epochs keep each trial to seconds on a shared machine.
    space = space.replace(params={**space.model_dump()["params"], "n_epochs": {"type": "int", "low": 5, "high": 15}})
    return run_sweep("svd", DATA, 3, space=space, settings=settings)


@pytest.fixture(scope="module")
def ncf_sweep(settings, ray_cluster):
    space = load_named_space("ncf", settings)
    space = space.replace(fixed={**space.fixed, "epochs": 3})
    return run_sweep("ncf", DATA, 2, space=space, settings=settings)


def children(client: MlflowClient, parent_run_id: str) -> list:
    run = client.get_run(parent_run_id)
    return client.search_runs([run.info.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'")


def running(client: MlflowClient) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, "attributes.status = 'RUNNING'")


def artifact_paths(client: MlflowClient, run_id: str, path: str = "") -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path):
        out |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return out


# -- tracking ----------------------------------------------------------------------------------


def test_each_trial_is_a_child_run_of_its_sweep(client, svd_sweep, ncf_sweep):
    for sweep, trials in ((svd_sweep, 3), (ncf_sweep, 2)):
        parent = client.get_run(sweep.parent_run_id)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["hz45.kind"] == "sweep"
        kids = children(client, sweep.parent_run_id)
        assert len(kids) == trials
        assert {k.info.status for k in kids} == {"FINISHED"}
        assert len({k.data.tags["hz45.trial_id"] for k in kids}) == trials
        assert parent.data.tags["hz45.best_run_id"] in {k.info.run_id for k in kids}
        # The parent carries the best trial's figures under the same names.
        best = client.get_run(sweep.best_run_id)
        assert parent.data.metrics[sweep.metric] == pytest.approx(best.data.metrics[sweep.metric])


def test_models_share_metric_and_parameter_names(client, svd_sweep, ncf_sweep):
    svd = client.get_run(svd_sweep.best_run_id).data
    ncf = client.get_run(ncf_sweep.best_run_id).data
    assert SHARED_METRICS <= set(svd.metrics) and SHARED_METRICS <= set(ncf.metrics)
    assert {"rmse", "mae"} <= set(svd.metrics)
    assert "rmse" not in ncf.metrics  # a ranking model has no rating error
    shared = {"model.name", "model.factors", "model.epochs", "model.learning_rate", "model.seed"}
    assert shared <= set(svd.params) and shared <= set(ncf.params)
    assert "model.regularization" in svd.params
    assert all(k.startswith(("model.", "data.")) for k in [*svd.params, *ncf.params])
    assert svd.params["data.holdout_digest"] == ncf.params["data.holdout_digest"]
    assert 0.6 < svd.metrics["rmse"] < 1.4


def test_epoch_based_trials_log_every_epoch(client, ncf_sweep):
    for kid in children(client, ncf_sweep.parent_run_id):
        history = client.get_metric_history(kid.info.run_id, "loss")
        steps = sorted(m.step for m in history)
        assert steps == list(range(len(steps))) and len(steps) >= 2
        ndcg = client.get_metric_history(kid.info.run_id, "ndcg_at_10")
        assert len(ndcg) >= len(steps)


def test_runs_record_dataset_commit_and_config(client, svd_sweep):
    for run_id in (svd_sweep.parent_run_id, svd_sweep.best_run_id):
        run = client.get_run(run_id)
        # Other work may have committed since: the recorded commit is one of this branch's.
        commit = run.data.tags[MLFLOW_GIT_COMMIT]
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT)
        assert len(commit) == 40 and ancestor.returncode == 0
        inputs = {
            d.dataset.name: (d.dataset.digest, {t.value for t in d.tags}) for d in run.inputs.dataset_inputs
        }
        assert set(inputs) == {f"{DATA.label}/train", f"{DATA.label}/validation"}
        assert inputs[f"{DATA.label}/train"][1] == {"training"}
        assert all(digest for digest, _ in inputs.values())
    parent = artifact_paths(client, svd_sweep.parent_run_id)
    assert {"config/search_space.yaml", "config/tuning.json", "config/holdout.json", "trials.csv",
            "plots/sweep_progress.png"} <= parent  # fmt: skip


def test_trials_log_plots_and_the_fitted_model(client, svd_sweep, ncf_sweep):
    common = {"plots/predicted_vs_actual.png", "plots/metric_by_user_activity.png", "params.json",
              "metrics_by_activity.csv", "model/model.json"}  # fmt: skip
    assert common <= artifact_paths(client, svd_sweep.best_run_id)
    assert common | {"plots/learning_curve.png"} <= artifact_paths(client, ncf_sweep.best_run_id)


def test_a_failing_trial_is_failed_and_the_sweep_goes_on(client, settings, ray_cluster):
    space = load_named_space("svd", settings)
    # A negative init_std_dev makes scikit-surprise raise inside the trial.
    space = space.replace(
        fixed={"seed": 42, "n_factors": 10, "n_epochs": 3, "lr_all": 0.005, "reg_all": 0.02, "biased": True},
        params={"init_std_dev": {"type": "choice", "values": [0.1, -1.0]}},
    )
    result = run_sweep("svd", DATA, 2, space=space, settings=settings,
                       points=[{"init_std_dev": 0.1}, {"init_std_dev": -1.0}])  # fmt: skip
    assert (result.finished, result.failed) == (1, 1)
    assert sorted(k.info.status for k in children(client, result.parent_run_id)) == ["FAILED", "FINISHED"]
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    assert not running(client)


def test_a_sweep_whose_trials_all_fail_fails_and_closes_its_runs(client, settings, ray_cluster):
    space = load_named_space("svd", settings)
    space = space.replace(
        fixed={"n_factors": 10, "n_epochs": 3}, params={"init_std_dev": {"type": "choice", "values": [-1.0]}}
    )
    with pytest.raises(Hz45Error, match="no trial finished"):
        run_sweep("svd", DATA, 1, space=space, settings=settings)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment).experiment_id
    last = client.search_runs([experiment], "tags.`hz45.kind` = 'sweep'", order_by=["attributes.start_time DESC"])[0]
    assert last.info.status == "FAILED"
    assert [k.info.status for k in children(client, last.info.run_id)] == ["FAILED"]
    assert not running(client)


def test_ctrl_c_ends_the_sweep_with_no_run_left_running(client, env, settings, ray_cluster):
    """`hz45 tune svd` in its own process, joined to the module's Ray; SIGINT once a trial runs."""
    child_env = {**os.environ, **env, "HZ45_RAY__ADDRESS": ray_cluster}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "hz45"), "tune", "svd", "--users", "60", "--trials", "6",
         "--concurrency", "1"],
        cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not any(r.data.tags.get("hz45.kind") == "trial" for r in running(client)):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    assert "interrupted" in output
    experiment = client.get_experiment_by_name(settings.mlflow.experiment).experiment_id
    sweep = client.search_runs([experiment], "tags.`hz45.dataset` = 'ml-100k-users60'")
    parents = [r for r in sweep if r.data.tags.get("hz45.kind") == "sweep"]
    assert [p.info.status for p in parents] == ["KILLED"]
    assert len(children(client, parents[0].info.run_id)) < 6
    assert not running(client)


# -- registry and promotion ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def components(settings, svd_sweep, ncf_sweep):
    return {
        "svd": register_best("svd", svd_sweep.parent_run_id, settings=settings),
        "ncf": register_best("ncf", ncf_sweep.parent_run_id, settings=settings),
    }


def test_best_trials_are_registered_with_signature_and_example(client, components, svd_sweep, ncf_sweep, tmp_path):
    for model, sweep in (("svd", svd_sweep), ("ncf", ncf_sweep)):
        version = components[model]
        assert version.run_id == sweep.best_run_id
        assert float(version.tags[f"hz45.metric.{sweep.metric}"]) == pytest.approx(sweep.best_value, rel=1e-4)
        uri = f"models:/{version.name}/{version.version}"
        info = get_model_info(uri)
        assert info.signature.inputs.input_names() == ["user_id", "item_id"]
        assert info.saved_input_example_info is not None
        local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / model))
        example = Model.load(local).load_input_example(local)
        scores = mlflow.pyfunc.load_model(uri).predict(example)["score"].to_numpy()
        assert np.isfinite(scores).all() and len(scores) == len(example)


@pytest.fixture(scope="module")
def blend_sweep(settings, components, ray_cluster):
    return tune_hybrid(2, settings=settings)


def test_blend_sweep_starts_from_the_fitted_weights(client, components, blend_sweep):
    result = blend_sweep
    kids = children(client, result.parent_run_id)
    assert len(kids) == 2 and {k.info.status for k in kids} == {"FINISHED"}
    # The hybrid's own fitted weights (summing to 1) are one trial; Optuna samples the other raw.
    sums = [sum(float(k.data.params[f"model.weights.{c}"]) for c in ("svd", "ncf", "als", "content")) for k in kids]
    assert any(total == pytest.approx(1.0, abs=1e-3) for total in sums)
    assert client.get_run(result.parent_run_id).data.tags["hz45.component.svd"] == (
        f"{components['svd'].name}/{components['svd'].version}"
    )


def test_gate_promotes_better_refuses_worse_and_rollback_restores(client, settings, components, blend_sweep):
    name = settings.tuning["registry"]["hybrid"]
    # A weak hybrid (SVD alone ranks poorly) becomes champion only because there is none.
    weak = build_and_register_hybrid(weights={"svd": 1.0}, settings=settings)
    assert "challenger" in weak.aliases
    first = promote(settings=settings)
    assert first.promoted and first.champion is None and "first version" in first.reason
    assert client.get_model_version_by_alias(name, "champion").version == weak.version

    strong = build_and_register_hybrid(blend_sweep_run_id=blend_sweep.parent_run_id, settings=settings)
    decision = promote(settings=settings)
    assert decision.promoted, decision.reason
    assert decision.challenger_metrics["ndcg_at_10"] > decision.champion_metrics["ndcg_at_10"]
    assert client.get_model_version_by_alias(name, "champion").version == strong.version

    record = client.get_run(decision.run_id)
    assert record.info.status == "FINISHED" and record.data.tags["hz45.decision"] == "promoted"
    assert {"challenger.ndcg_at_10", "champion.ndcg_at_10"} <= set(record.data.metrics)
    assert record.data.params["holdout.digest"] == decision.holdout_digest
    tags = client.get_model_version(name, strong.version).tags
    assert tags["hz45.promotion.decision"] == "promoted" and tags["hz45.promotion.run_id"] == decision.run_id
    assert "hz45.promotion.champion.ndcg_at_10" in tags

    worse = build_and_register_hybrid(weights={"svd": 1.0}, settings=settings)
    refused = promote(settings=settings)
    assert not refused.promoted and "below the margin" in refused.reason
    assert refused.holdout_digest == decision.holdout_digest  # the same frozen holdout every time
    assert client.get_model_version_by_alias(name, "champion").version == strong.version
    assert client.get_model_version(name, worse.version).tags["hz45.promotion.decision"] == "refused"

    back = rollback(settings=settings)
    assert (back.from_version, back.to_version) == (str(strong.version), str(weak.version))
    assert client.get_model_version_by_alias(name, "champion").version == weak.version
    assert client.get_registered_model(name).tags[HISTORY_TAG] == str(weak.version)
    with pytest.raises(Hz45Error, match="no earlier champion"):
        rollback(settings=settings)
    assert not running(client)


# -- the MLflow server --------------------------------------------------------------------------


def test_mlflow_ui_serves_the_sweep_runs_over_rest(env, settings, svd_sweep, ncf_sweep, tmp_path):
    """`make mlflow-ui` (its own command, on a free port, on this module's store)."""
    port = free_port()
    store = env["HZ45_MLFLOW__TRACKING_URI"]
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "mlflow-ui", "STAMP=", f"MLFLOW_PORT={port}", f"MLFLOW_STORE={store}",
         f"MLFLOW_ARTIFACTS={tmp_path / 'served'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the MLflow server did not answer"
            time.sleep(1)
        api = f"{base}/api/2.0/mlflow"
        experiment = httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": settings.mlflow.experiment})
        experiment_id = experiment.json()["experiment"]["experiment_id"]
        found = httpx.post(
            f"{api}/runs/search",
            json={"experiment_ids": [experiment_id],
                  "filter": f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{ncf_sweep.parent_run_id}'"},
        ).json()["runs"]  # fmt: skip
        assert len(found) == 2
        kid = ncf_sweep.best_run_id  # a trial ASHA stopped has history but no plots
        assert kid in {r["info"]["run_id"] for r in found}
        history = httpx.get(f"{api}/metrics/get-history", params={"run_id": kid, "metric_key": "loss"}).json()
        assert len(history["metrics"]) >= 2
        plots = httpx.get(f"{api}/artifacts/list", params={"run_id": kid, "path": "plots"}).json()
        assert {"plots/learning_curve.png", "plots/predicted_vs_actual.png"} <= {f["path"] for f in plots["files"]}
        parent = httpx.get(f"{api}/runs/get", params={"run_id": svd_sweep.parent_run_id}).json()["run"]
        assert parent["info"]["status"] == "FINISHED"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
