"""The DAG folder parses without import errors, and each DAG has the schedule, task graph,
defaults, deadline and params the platform relies on, taken from the `airflow:` configuration.

Airflow parses the folder in a child process (tests/airflow_harness.py) and answers in JSON.
"""

from __future__ import annotations

import pytest

from airflow_harness import ROOT, airflow_env, call

# The feature jobs' day: the data interval's first day, or for a run triggered by hand (no
# interval) the day it was triggered (hourly) or the day before (daily).
HOURLY = "{{ (data_interval_start | default(dag_run.run_after, true)) | ds }}"
DAILY = "{{ (data_interval_start | default(dag_run.run_after - macros.timedelta(days=1), true)) | ds }}"
FEATURE_EDGES = {
    ("ingest_interactions", "build_features"),
    ("build_features", "check_quality"),
    ("check_quality", "chart_tables"),
}
RETRAIN_EDGES = {
    ("build_training_set", "prepare_sweeps"),
    ("prepare_sweeps", "tune_svd"),
    ("prepare_sweeps", "tune_ncf"),
    ("tune_svd", "register_svd"),
    ("tune_ncf", "register_ncf"),
    ("register_svd", "build_hybrid"),
    ("register_ncf", "build_hybrid"),
    ("build_hybrid", "evaluate"),
    ("evaluate", "gate"),
    ("evaluate", "promote"),
    ("evaluate", "keep_champion"),
    ("gate", "promote"),
    ("gate", "keep_champion"),
    ("promote", "precompute_recommendations"),
    ("keep_champion", "precompute_recommendations"),
    ("precompute_recommendations", "reload_serving"),
}


@pytest.fixture(scope="module")
def dags(tmp_path_factory) -> dict:
    answer, _ = call(airflow_env(tmp_path_factory.mktemp("airflow")), "describe", timeout=600)
    assert answer["import_errors"] == {}
    return answer["dags"]


def edges(dag: dict) -> set[tuple[str, str]]:
    return {(up, task) for task, spec in dag["tasks"].items() for up in spec["upstream"]}


def spark_jobs(task: dict) -> list[str]:
    args = task["application_args"]
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--job"]


def test_the_folder_holds_the_two_dags(dags):
    assert set(dags) == {"hz45_features", "hz45_retrain"}


def test_features_runs_every_hour_over_the_hour_before(dags):
    dag = dags["hz45_features"]
    assert (dag["timetable"], dag["schedule"], dag["timezone"]) == ("CronDataIntervalTimetable", "0 * * * *", "UTC")
    assert dag["catchup"] is False and dag["max_active_runs"] == 1


def test_retrain_runs_daily(dags):
    dag = dags["hz45_retrain"]
    assert (dag["timetable"], dag["schedule"], dag["timezone"]) == ("CronDataIntervalTimetable", "0 3 * * *", "UTC")
    assert dag["catchup"] is False and dag["max_active_runs"] == 1


def test_features_graph_submits_the_spark_jobs_in_order(dags):
    dag = dags["hz45_features"]
    assert edges(dag) == FEATURE_EDGES
    tasks = dag["tasks"]
    for name, jobs in (("build_features", ["clean", "items", "users"]), ("chart_tables", ["charts"])):
        assert tasks[name]["type"] == "SparkSubmitOperator"
        assert tasks[name]["conn_id"] == "hz45_spark"
        assert tasks[name]["application"] == str(ROOT / "features" / "jobs.py")
        assert spark_jobs(tasks[name]) == jobs
        assert tasks[name]["application_args"][:4] == ["--date", HOURLY, "--dataset", "{{ params.dataset }}"]
    assert tasks["check_quality"]["type"] == "_PySparkDecoratedOperator"
    assert tasks["check_quality"]["conn_id"] == "hz45_spark"


def test_retrain_graph_sweeps_in_parallel_and_branches_on_the_gate(dags):
    dag = dags["hz45_retrain"]
    assert edges(dag) == RETRAIN_EDGES
    tasks = dag["tasks"]
    assert spark_jobs(tasks["build_training_set"]) == ["training"]
    assert tasks["build_training_set"]["application_args"][1] == DAILY
    assert tasks["gate"]["type"] == "_BranchPythonDecoratedOperator"
    # Whichever branch ran, the lists are precomputed; a failure anywhere stops them.
    assert tasks["precompute_recommendations"]["trigger_rule"] == "none_failed_min_one_success"
    assert all(spec["trigger_rule"] == "all_success" for name, spec in tasks.items()
               if name != "precompute_recommendations")


def test_every_task_retries_once_after_five_minutes_within_a_timeout(dags):
    for dag in dags.values():
        for name, task in dag["tasks"].items():
            assert (task["retries"], task["retry_delay_s"]) == (1, 300.0), name
            assert task["execution_timeout_s"] and task["execution_timeout_s"] > 0, name


def test_each_dag_is_tagged_and_documents_every_task(dags):
    for dag_id, dag in dags.items():
        assert "hz45" in dag["tags"]
        for task in dag["tasks"]:
            assert f"**{task}**" in dag["doc_md"], (dag_id, task)


def test_retrain_alerts_when_a_run_misses_its_deadline(dags):
    assert dags["hz45_retrain"]["deadlines"] == [{
        "reference": "DagRunQueuedAtDeadline",
        "interval_s": 360 * 60.0,
        "callback": "dags.alerts.deadline_missed",
        "kwargs": {"minutes": 360},
    }]
    assert dags["hz45_features"]["deadlines"] == []


def test_runs_take_params_with_the_configured_defaults(dags):
    assert {name: p["default"] for name, p in dags["hz45_features"]["params"].items()} == {"dataset": "lastfm-spotify"}
    params = dags["hz45_retrain"]["params"]
    assert {name: p["default"] for name, p in params.items()} == {
        "dataset": "lastfm-spotify", "users": None, "svd_trials": 20, "ncf_trials": 8,
        "promotion_margin": 0.002, "top_n": 20,
    }
    assert params["svd_trials"]["schema"] == {"type": "integer", "minimum": 1}
    assert params["users"]["schema"]["type"] == ["null", "integer"]
    assert params["promotion_margin"]["schema"] == {"type": "number", "minimum": 0}


def test_schedules_defaults_and_params_come_from_the_configuration(tmp_path):
    env = {
        **airflow_env(tmp_path),
        "HZ45_AIRFLOW__RETRAIN__SCHEDULE": "30 4 * * 1",
        "HZ45_AIRFLOW__RETRIES": "3",
        "HZ45_AIRFLOW__RETRAIN__NCF_TRIALS": "2",
        "HZ45_AIRFLOW__SPARK_CONN_ID": "spark_cluster",
    }
    dags = call(env, "describe", timeout=600)[0]["dags"]
    assert dags["hz45_retrain"]["schedule"] == "30 4 * * 1"
    assert dags["hz45_retrain"]["params"]["ncf_trials"]["default"] == 2
    assert {t["retries"] for t in dags["hz45_features"]["tasks"].values()} == {3}
    assert dags["hz45_features"]["tasks"]["build_features"]["conn_id"] == "spark_cluster"


def test_a_bad_configuration_value_is_an_import_error_naming_its_key(tmp_path):
    env = {**airflow_env(tmp_path), "HZ45_AIRFLOW__RETRAIN__SVD_TRIALS": "0"}
    errors = call(env, "describe", timeout=600)[0]["import_errors"]
    assert set(map(lambda p: p.rsplit("/", 1)[-1], errors)) == {"hz45_features.py", "hz45_retrain.py"}
    assert all("airflow.retrain.svd_trials" in message for message in errors.values())
