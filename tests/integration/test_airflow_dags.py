"""Both DAGs end to end with `dag.test()` on MovieLens-100K, against real Spark (local, submitted
through the Spark provider), Ray (local, 2 CPUs), MLflow (SQLite in a temporary folder) and a
SQLite main DB: feature partitions written, sweeps and versions in MLflow, a champion, a list for
every listener with the champion's version; a task that fails once and succeeds on its retry;
a failed data-quality check that stops the retrain before any training.

Airflow runs in a child process (tests/airflow_harness.py), one `dag.test()` per call.
"""

from __future__ import annotations

import os
import socket
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from airflow_harness import airflow_env, call, migrate
from experiments.tracking import client_for
from hz45.settings import Settings, load_settings
from hz45.stores.sql import get_engine

pytestmark = pytest.mark.integration

DATASET = "ml-100k"
RUN_DATE = date(1998, 4, 22)  # the last day of MovieLens-100K
FEATURES_AT = "1998-04-23T00:00:00+00:00"  # the hourly run over 23:00-24:00 of that day
RETRAIN_AT = "1998-04-23T03:00:00+00:00"  # the daily run over the day before
QUALITY_AT = "1998-04-23T12:00:00+00:00"  # a manual run later that day: the same interval, another run
SVD_TRIALS, NCF_TRIALS, TOP_N, USERS = 2, 1, 10, 60
# Small spaces keep every trial to seconds.
SPACES = {
    "svd": {"model": "svd", "metric": "rmse", "mode": "min", "fixed": {"seed": 42},
            "params": {"n_factors": {"type": "int", "low": 10, "high": 30},
                       "n_epochs": {"type": "int", "low": 5, "high": 10},
                       "lr_all": {"type": "loguniform", "low": 0.002, "high": 0.02}}},
    "ncf": {"model": "ncf", "metric": "ndcg_at_10", "mode": "max",
            "fixed": {"architecture": "neumf", "objective": "implicit", "epochs": 2, "patience": 1, "refit": False,
                      "seed": 42, "factors": 8, "mlp_layers": [16, 8]},
            "params": {"learning_rate": {"type": "loguniform", "low": 0.001, "high": 0.01}}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dags")


@pytest.fixture(scope="module")
def env(root: Path) -> dict[str, str]:
    spaces = root / "spaces"
    spaces.mkdir()
    for name, space in SPACES.items():
        (spaces / f"{name}.yaml").write_text(yaml.safe_dump(space))
    variables = {
        **airflow_env(root / "airflow"),
        "HZ45_SQL__URL": f"sqlite:///{root / 'main.db'}",
        "HZ45_DATA__FEATURES_DIR": str(root / "store"),
        "HZ45_SPARK__MASTER": "local[2]",
        "HZ45_SPARK__DRIVER_MEMORY": "2g",
        "HZ45_SPARK__SHUFFLE_PARTITIONS": "2",
        "HZ45_FEATURES__SPARK__UI": "false",
        "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "HZ45_MLFLOW__ARTIFACT_ROOT": str(root / "artifacts"),
        "HZ45_PROMOTION__HOLDOUT__DIR": str(root / "holdout"),
        "HZ45_TUNING__STORAGE_DIR": str(root / "tune"),
        "HZ45_TUNING__SEARCH_SPACES": str(spaces),
        "HZ45_TUNING__PLOTS": "false",
        "HZ45_TUNING__VERBOSE": "0",
        "HZ45_RAY__NUM_CPUS": "2",
        # No serving app answers here: the reload step must find none.
        "HZ45_SERVING__PORT": str(free_port()),
        "HZ45_AIRFLOW__DATASET": DATASET,
        "HZ45_AIRFLOW__RETRAIN__USERS": str(USERS),
        "HZ45_AIRFLOW__RETRAIN__SVD_TRIALS": str(SVD_TRIALS),
        "HZ45_AIRFLOW__RETRAIN__NCF_TRIALS": str(NCF_TRIALS),
        "HZ45_AIRFLOW__RETRAIN__TOP_N": str(TOP_N),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    migrate(variables)
    return variables


def settings_of(env: dict[str, str]) -> Settings:
    return load_settings(environ={**os.environ, **env})


def failure(run: dict, output: str) -> str:
    """What to show when a run did not go as expected: its tasks' states and the end of its log."""
    return f"{ {task: ti['state'] for task, ti in run['tasks'].items()} }\n{output[-8000:]}"


@pytest.fixture(scope="module")
def features_run(env) -> tuple[dict, str]:
    return call(env, "run", "hz45_features", FEATURES_AT)


@pytest.fixture(scope="module")
def retrain_run(env, features_run) -> tuple[dict, str]:
    return call(env, "run", "hz45_retrain", RETRAIN_AT)


def test_features_dag_ingests_and_writes_the_days_partitions(env, features_run):
    run, output = features_run
    assert run["state"] == "success", failure(run, output)
    tasks = run["tasks"]
    assert all(ti["state"] == "success" and ti["tries"] == 1 for ti in tasks.values()), tasks
    # Every MovieLens rating precedes the end of its last day: the first run ingests them all.
    assert tasks["ingest_interactions"]["value"]["counts"]["interactions"] == 100_000
    checked = tasks["check_quality"]["value"]
    assert checked["clean_events"] == 100_000 and checked["user_features"] == 943 and checked["item_features"] == 1682

    settings = settings_of(env)
    store = settings.path(settings.data.features_dir)
    for table in ("clean_events", "tracks", "item_features", "user_features", "chart_top_genre"):
        partition = store / table / f"dataset={DATASET}" / f"run_date={RUN_DATE}"
        assert list(partition.glob("*.parquet")), f"no partition of {table}"
    with get_engine(settings=settings).connect() as conn:
        charted = conn.execute(sa.text("SELECT count(*) FROM chart_top_genre WHERE dataset = :d AND run_date = :r"),
                               {"d": DATASET, "r": RUN_DATE}).scalar_one()
    assert charted > 0


def test_retrain_dag_sweeps_registers_promotes_and_precomputes(env, retrain_run):
    run, output = retrain_run
    assert run["state"] == "success", failure(run, output)
    tasks = run["tasks"]
    skipped = {task for task, ti in tasks.items() if ti["state"] == "skipped"}
    assert skipped == {"keep_champion"}, failure(run, output)  # the first hybrid has no champion to beat
    assert all(ti["state"] == "success" for task, ti in tasks.items() if task not in skipped)

    client = client_for(settings_of(env))
    sweeps = {s: tasks[f"tune_{s}"]["value"] for s in ("svd", "ncf")}
    for model, trials in (("svd", SVD_TRIALS), ("ncf", NCF_TRIALS)):
        parent = client.get_run(sweeps[model])
        assert parent.info.status == "FINISHED" and parent.data.tags["hz45.kind"] == "sweep"
        children = client.search_runs([parent.info.experiment_id],
                                      f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert len(children) == trials
        version = client.get_model_version(f"hz45-{model}", tasks[f"register_{model}"]["value"])
        assert version.tags["hz45.sweep_run_id"] == parent.info.run_id

    champion = client.get_model_version_by_alias("hz45-hybrid", "champion")
    assert str(champion.version) == tasks["build_hybrid"]["value"] == tasks["promote"]["value"]
    assert "challenger" not in client.get_registered_model("hz45-hybrid").aliases
    assert tasks["evaluate"]["value"]["promoted"] is True

    with get_engine(settings=settings_of(env)).connect() as conn:
        listeners = {u for (u,) in conn.execute(sa.text("SELECT user_id FROM users"))}
        rows = conn.execute(sa.text("SELECT user_id, model_version, count(*), min(rank), max(rank) "
                                    "FROM recommendations GROUP BY user_id, model_version")).all()
    assert len(listeners) == 943
    assert {r[0] for r in rows} == listeners
    assert {r[1] for r in rows} == {str(champion.version)}
    assert all(r[2:] == (TOP_N, 1, TOP_N) for r in rows)
    assert tasks["precompute_recommendations"]["value"]["listeners"] == 943
    assert tasks["reload_serving"]["value"] == "not running"


def test_a_failed_quality_check_stops_the_retrain_before_training(env, features_run, root):
    # Ratings above 2 are now impossible values, so the training set breaks its range rule.
    broken = {**env, "HZ45_FEATURES__RATINGS__MAX": "2.0", "HZ45_AIRFLOW__RETRIES": "0",
              "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'mlflow-quality.db'}"}
    run, output = call(broken, "run", "hz45_retrain", QUALITY_AT)
    assert run["state"] == "failed", failure(run, output)
    assert run["tasks"]["build_training_set"]["state"] == "failed"
    assert "quality check failed: table 'ratings', rule range(rating in [1, 2])" in output
    after = {task: ti for task, ti in run["tasks"].items() if task != "build_training_set"}
    assert all(ti["state"] == "upstream_failed" and ti["tries"] == 0 for ti in after.values()), after
    client = client_for(settings_of(broken))
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_a_task_that_fails_once_succeeds_on_its_retry(env, features_run, root):
    # The data folder is not there on the first try (a share not mounted yet) and is back
    # when the task goes up for retry. The run is one triggered by hand: no data interval, so
    # the ingest reads up to when it was triggered.
    data = settings_of(env).path(settings_of(env).data.root)
    late = root / "late-data"
    retried = {**env, "HZ45_DATA__ROOT": str(late), "HZ45_AIRFLOW__RETRY_DELAY_MINUTES": "0.02"}
    run, output = call(retried, "run", "hz45_features", "none",
                       "--mark-success", "build_features|check_quality|chart_tables",
                       "--on-retry-link", "ingest_interactions", str(late), str(data))
    ingest = run["tasks"]["ingest_interactions"]
    assert run["state"] == "success", failure(run, output)
    assert ingest["state"] == "success" and ingest["tries"] == 2
    assert str(late) in output  # the first try's error named the missing folder
    # Nothing new after the end of the dataset: the retry adds no interactions.
    assert ingest["value"]["counts"]["interactions"] == 100_000
