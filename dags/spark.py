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
# Feature runs are per day: the day the data interval starts in (an hourly run rebuilds its day).
RUN_DATE = "{{ data_interval_start | ds }}"


def feature_job(task_id: str, jobs: Sequence[str], config: AirflowConfig, settings: Settings,
                timeout: timedelta) -> SparkSubmitOperator:
    """A task running `jobs` of the feature pipeline for the run's date and dataset."""
    return SparkSubmitOperator(
        task_id=task_id,
        application=str(APPLICATION),
        conn_id=config.spark_conn_id,
        name=f"hz45-{task_id}",
        application_args=["--date", RUN_DATE, "--dataset", "{{ params.dataset }}",
                          *(arg for job in jobs for arg in ("--job", job))],
        driver_memory=settings.spark.driver_memory,
        execution_timeout=timeout,
    )
