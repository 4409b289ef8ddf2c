"""The feature jobs as Spark applications submitted through an Airflow connection.

`features/jobs.py` is the spark-submit entry point of the feature pipeline; the connection
(`airflow.spark_conn_id`) decides where it runs: local[*] as `make airflow` defines it, or a
cluster's master once the connection points there. `spark-submit` and the Python it starts come
from PATH, which `make airflow` puts the project's virtualenv first on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from dags.config import AirflowConfig
from hz45.settings import ROOT, Settings

APPLICATION = ROOT / "features" / "jobs.py"
# The day a run's feature jobs work on: the day its data interval starts in (an hourly run
# rebuilds its day; the daily retrain reads the day before, which no hourly run rewrites any
# more). A run triggered by hand has no data interval in Airflow 3: it takes the day it was
# triggered on (hourly), or the day before (daily), as its schedule would.
HOURLY_RUN_DATE = "{{ (data_interval_start | default(dag_run.run_after, true)) | ds }}"
DAILY_RUN_DATE = "{{ (data_interval_start | default(dag_run.run_after - macros.timedelta(days=1), true)) | ds }}"


def feature_job(task_id: str, jobs: Sequence[str], run_date: str, config: AirflowConfig, settings: Settings,
                timeout: timedelta) -> SparkSubmitOperator:
    """A task running `jobs` of the feature pipeline for `run_date` (a template) and the run's dataset."""
    return SparkSubmitOperator(
        task_id=task_id,
        application=str(APPLICATION),
        conn_id=config.spark_conn_id,
        name=f"hz45-{task_id}",
        application_args=["--date", run_date, "--dataset", "{{ params.dataset }}",
                          *(arg for job in jobs for arg in ("--job", job))],
        driver_memory=settings.spark.driver_memory,
        execution_timeout=timeout,
    )
