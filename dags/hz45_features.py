"""
### hz45_features: the hourly feature pipeline

Every hour (`airflow.features.schedule`, UTC), for the hour that just ended:

1. **ingest_interactions**: the dataset's interactions from the newest one the main DB holds up
   to the end of the hour, with the listeners and tracks they name (idempotent; a missed hour is
   caught up by the next run).
2. **build_features**: the Spark jobs `clean`, `items` and `users` of `features/jobs.py` for the
   hour's day, submitted through the `airflow.spark_conn_id` connection (local by default; point
   the connection at a cluster's master to run there). Every output is checked before it is
   written.
3. **check_quality**: the day's partitions read back from the offline store and checked again;
   the clean events, tracks, item and user features must be there with rows.
4. **chart_tables**: the Spark job `charts` (plays per track per hour, top tracks per genre and
   cluster) into the store and the main DB.

Params: `dataset` (a catalog dataset; the main DB holds one dataset at a time).
"""

from __future__ import annotations

from datetime import date, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from dags.config import START_DATE, airflow_config, default_args
from dags.spark import HOURLY_RUN_DATE, feature_job
from hz45.settings import get_settings

SETTINGS = get_settings()
CONFIG = airflow_config(SETTINGS)
# The tables the clean, items and users jobs must leave with rows.
REQUIRED_TABLES = ("clean_events", "tracks", "item_features", "user_features")


@dag(
    dag_id="hz45_features",
    schedule=CronDataIntervalTimetable(CONFIG.features.schedule, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(CONFIG),
    dagrun_timeout=timedelta(hours=2),
    tags=["hz45", "features", "spark"],
    doc_md=__doc__,
    params={"dataset": Param(CONFIG.dataset, type="string", description="catalog dataset (hz45 data list)")},
)
def hz45_features():
    @task(execution_timeout=timedelta(minutes=20))
    def ingest_interactions(params=None, data_interval_end=None, dag_run=None) -> dict:
        from hz45.ingest.interactions import ingest_interactions

        # A run triggered by hand has no data interval: it ingests up to when it was triggered.
        summary = ingest_interactions(params["dataset"], data_interval_end or dag_run.run_after)
        return {"written": summary.written, "counts": summary.counts, **summary.notes}

    build_features = feature_job("build_features", ("clean", "items", "users"), HOURLY_RUN_DATE, CONFIG, SETTINGS,
                                 timeout=timedelta(minutes=45))

    @task.pyspark(conn_id=CONFIG.spark_conn_id, execution_timeout=timedelta(minutes=20))
    def check_quality(run_date: str, spark=None, sc=None, params=None) -> dict:
        from features.verify import verify_run

        # The connection's session, configured as the feature jobs configure theirs.
        return verify_run(get_settings(), params["dataset"], date.fromisoformat(run_date), REQUIRED_TABLES)

    chart_tables = feature_job("chart_tables", ("charts",), HOURLY_RUN_DATE, CONFIG, SETTINGS,
                               timeout=timedelta(minutes=30))

    ingest_interactions() >> build_features >> check_quality(HOURLY_RUN_DATE) >> chart_tables


hz45_features()
