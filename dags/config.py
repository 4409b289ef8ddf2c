"""The `airflow:` section of the configuration and what both DAGs share: default task arguments
and their schedules' timetable. Read when a DAG file is parsed, so a bad key fails the parse
with its name."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from pydantic import BaseModel, ConfigDict, Field

from hz45.settings import Settings


# Runs may be backfilled (or tested) over the real datasets' own dates, MovieLens' 1997-98
# included; with catch-up off, scheduling still starts from the latest interval only.
START_DATE = pendulum.datetime(1995, 1, 1, tz="UTC")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeaturesDagConfig(Strict):
    schedule: str = "0 * * * *"


class RetrainDagConfig(Strict):
    schedule: str = "0 3 * * *"
    # Listeners sampled for the sweeps (None: all); promotion and precomputed lists are unaffected.
    users: int | None = Field(default=None, ge=2)
    svd_trials: int = Field(default=20, ge=1)
    ncf_trials: int = Field(default=8, ge=1)
    top_n: int = Field(default=20, ge=1)
    deadline_minutes: int = Field(default=360, ge=1)
    serving_wait_s: float = Field(default=60.0, ge=0)


class AirflowConfig(Strict):
    dataset: str = "lastfm-spotify"
    spark_conn_id: str = "hz45_spark"
    retries: int = Field(default=1, ge=0)
    retry_delay_minutes: float = Field(default=5.0, ge=0)
    features: FeaturesDagConfig = FeaturesDagConfig()
    retrain: RetrainDagConfig = RetrainDagConfig()


def airflow_config(settings: Settings) -> AirflowConfig:
    """The validated `airflow:` section; a bad key raises ConfigError naming it."""
    return settings.section("airflow", AirflowConfig)  # type: ignore[return-value]


def default_args(config: AirflowConfig) -> dict:
    """Arguments every task of both DAGs starts from."""
    return {
        "owner": "hz45",
        "retries": config.retries,
        "retry_delay": timedelta(minutes=config.retry_delay_minutes),
    }
