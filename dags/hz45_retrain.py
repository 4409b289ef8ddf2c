"""
### hz45_retrain: sweeps, the hybrid, the promotion gate and the precomputed lists

Daily (`airflow.retrain.schedule`, UTC), for the day before:

1. **build_training_set**: the Spark job `training` of `features/jobs.py` (the ratings with
   their protocol splits) from the day's clean events, which hz45_features built; checked
   before it is written, so a failed data-quality check stops the run here, before any training.
2. **prepare_sweeps**: the dataset's frozen holdout cut once (or read and verified) and the
   MLflow experiment created, before the two sweeps start side by side and would both do it.
3. **tune_svd** and **tune_ncf** in parallel (Ray Tune, every trial an MLflow run; `ray.address`
   joins a cluster), then **register_svd** / **register_ncf**: each sweep's best trial.
4. **build_hybrid**: the hybrid assembled from those two versions and registered as `challenger`.
5. **evaluate**: challenger against `champion` on the frozen holdout; the decision is an MLflow run.
6. **gate** branches to **promote** (the challenger becomes `champion`) or **keep_champion**.
7. **precompute_recommendations**: the champion's top `top_n` for every listener of the main DB
   into its `recommendations` table, with the model version.
8. **reload_serving**: a running serving app swaps to a new champion by itself (it watches the
   alias); this waits until it reports the version, and passes when no app is running.

Params (overridable when triggering): `dataset`, `users` (sample of listeners for the sweeps),
`svd_trials`, `ncf_trials`, `promotion_margin`, `top_n`. A run still going
`airflow.retrain.deadline_minutes` after it was queued raises a deadline alert.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta

from airflow.sdk import (
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    TriggerRule,
    dag,
    task,
)

from dags.alerts import deadline_missed
from dags.config import START_DATE, airflow_config, default_args
from dags.spark import DAILY_RUN_DATE, feature_job
from experiments.config import promotion_config
from hz45.settings import Settings, get_settings

log = logging.getLogger(__name__)
SETTINGS = get_settings()
CONFIG = airflow_config(SETTINGS)
RETRAIN = CONFIG.retrain
SWEEP_TIMEOUT = timedelta(hours=4)


def run_settings(params: dict) -> Settings:
    """The configuration with the run's promotion margin."""
    settings = get_settings()
    promotion = {**settings.promotion, "margin": params["promotion_margin"]}
    return settings.model_copy(update={"promotion": promotion})


@dag(
    dag_id="hz45_retrain",
    schedule=CronDataIntervalTimetable(RETRAIN.schedule, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(CONFIG),
    tags=["hz45", "training", "ray", "mlflow"],
    doc_md=__doc__,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=RETRAIN.deadline_minutes),
        callback=AsyncCallback(deadline_missed, kwargs={"minutes": RETRAIN.deadline_minutes}),
    ),
    params={
        "dataset": Param(CONFIG.dataset, type="string", description="catalog dataset (hz45 data list)"),
        "users": Param(RETRAIN.users, type=["null", "integer"], minimum=2,
                       description="sweep on this many sampled listeners (empty: all)"),
        "svd_trials": Param(RETRAIN.svd_trials, type="integer", minimum=1),
        "ncf_trials": Param(RETRAIN.ncf_trials, type="integer", minimum=1),
        "promotion_margin": Param(promotion_config(SETTINGS).margin, type="number", minimum=0,
                                  description="the challenger must beat the champion's primary metric by this"),
        "top_n": Param(RETRAIN.top_n, type="integer", minimum=1, description="tracks precomputed per listener"),
    },
)
def hz45_retrain():
    build_training_set = feature_job("build_training_set", ("training",), DAILY_RUN_DATE, CONFIG, SETTINGS,
                                     timeout=timedelta(minutes=45))

    @task(execution_timeout=timedelta(minutes=30))
    def prepare_sweeps(params=None) -> dict:
        from experiments.data import DataRef, sweep_data
        from experiments.tracking import client_for, experiment_id

        settings = get_settings()
        experiment_id(client_for(settings), settings.mlflow.experiment, settings)
        return sweep_data(DataRef(params["dataset"], params["users"]), settings).params()

    @task(execution_timeout=SWEEP_TIMEOUT)
    def tune_svd(params=None) -> str:
        from experiments import tune_svd

        return tune_svd(params["dataset"], params["svd_trials"], params["users"]).parent_run_id

    @task(execution_timeout=SWEEP_TIMEOUT)
    def tune_ncf(params=None) -> str:
        from experiments import tune_ncf

        return tune_ncf(params["dataset"], params["ncf_trials"], params["users"]).parent_run_id

    @task(execution_timeout=timedelta(minutes=20))
    def register_svd(sweep_run_id: str) -> str:
        from experiments import register_best

        return str(register_best("svd", sweep_run_id).version)

    @task(execution_timeout=timedelta(minutes=20))
    def register_ncf(sweep_run_id: str) -> str:
        from experiments import register_best

        return str(register_best("ncf", sweep_run_id).version)

    @task(execution_timeout=timedelta(hours=1))
    def build_hybrid(svd_version: str, ncf_version: str) -> str:
        from experiments import build_and_register_hybrid

        return str(build_and_register_hybrid({"svd": svd_version, "ncf": ncf_version}).version)

    @task(execution_timeout=timedelta(hours=1))
    def evaluate(challenger: str, params=None) -> dict:
        from experiments.promotion import evaluate_challenger

        return asdict(evaluate_challenger(challenger, run_settings(params)))

    @task.branch(execution_timeout=timedelta(minutes=5))
    def gate(decision: dict) -> str:
        return "promote" if decision["promoted"] else "keep_champion"

    @task(execution_timeout=timedelta(minutes=10))
    def promote(decision: dict) -> str:
        from experiments.promotion import Decision, apply_decision

        apply_decision(Decision(**decision), get_settings())
        return decision["challenger"]

    @task(execution_timeout=timedelta(minutes=5))
    def keep_champion(decision: dict) -> str | None:
        log.info("keeping version %s as champion: %s", decision["champion"], decision["reason"])
        return decision["champion"]

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, execution_timeout=timedelta(hours=1))
    def precompute_recommendations(params=None) -> dict:
        from serving.batch import precompute_recommendations

        return asdict(precompute_recommendations(get_settings(), params["dataset"], params["top_n"]))

    @task(execution_timeout=timedelta(seconds=RETRAIN.serving_wait_s) + timedelta(minutes=2))
    def reload_serving(precomputed: dict) -> str:
        from serving.batch import confirm_served

        return confirm_served(get_settings(), precomputed["model_version"], RETRAIN.serving_wait_s)

    prepared = prepare_sweeps()
    build_training_set >> prepared
    svd_sweep, ncf_sweep = tune_svd(), tune_ncf()
    prepared >> [svd_sweep, ncf_sweep]
    challenger = build_hybrid(register_svd(svd_sweep), register_ncf(ncf_sweep))
    decision = evaluate(challenger)
    branches = [promote(decision), keep_champion(decision)]
    gate(decision) >> branches
    precomputed = precompute_recommendations()
    branches >> precomputed
    reload_serving(precomputed)


hz45_retrain()
