"""The `serving:` section of the configuration, validated once at start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hz45.settings import Settings, get_settings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoscalingConfig(_Strict):
    """Ray Serve autoscaling; when enabled it replaces the fixed replica count."""

    enabled: bool = False
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=2, ge=1)
    target_ongoing_requests: float = Field(default=50.0, gt=0)
    upscale_delay_s: float = Field(default=10.0, ge=0)
    downscale_delay_s: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be >= min_replicas")
        return self


class DeploymentConfig(_Strict):
    """How the API deployment runs on Ray Serve."""

    num_replicas: int = Field(default=1, ge=1)
    # Serve's default of 5 queues requests in the proxy and collapses throughput under
    # concurrency; a replica here answers from memory, so it can take many at once.
    max_ongoing_requests: int = Field(default=100, ge=1)
    num_cpus: float = Field(default=0.5, ge=0)
    access_log: bool = False
    autoscaling: AutoscalingConfig = AutoscalingConfig()


class LogSinkConfig(_Strict):
    """The deployment that copies the recommendation log from Kafka into MongoDB."""

    collection: str = "recommendation_log"
    group_id: str = "hz45-recommendation-log-sink"
    batch_size: int = Field(default=500, ge=1)
    num_cpus: float = Field(default=0.0, ge=0)


class ServingConfig(_Strict):
    model_name: str = "hz45-hybrid"
    alias: str = "champion"
    app_name: str = "hz45"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, gt=0, lt=65536)
    default_n: int = Field(default=10, ge=1)
    max_n: int = Field(default=100, ge=1)
    # How often each replica asks the registry where the alias points.
    watch_interval_s: float = Field(default=2.0, gt=0)
    # Entries are dropped by the listener's events and feature updates and by a promotion, the
    # only things that change a list; the TTL is a safety net, not what keeps lists fresh.
    cache_ttl_s: float = Field(default=600.0, ge=0)
    cache_max_entries: int = Field(default=100_000, ge=0)
    # How many of a listener's recent tracks (from the online features) become the model's context.
    context_tracks: int = Field(default=20, ge=0)
    # Each replica sends its recommendation log records this often, as one Kafka message.
    log_flush_interval_s: float = Field(default=0.1, gt=0)
    deployment: DeploymentConfig = DeploymentConfig()
    log_sink: LogSinkConfig = LogSinkConfig()

    @model_validator(mode="after")
    def _n_bounds(self) -> ServingConfig:
        if self.default_n > self.max_n:
            raise ValueError("default_n must be <= max_n")
        return self


def serving_config(settings: Settings | None = None) -> ServingConfig:
    """The validated `serving:` section; a bad key raises ConfigError naming it."""
    return (settings or get_settings()).section("serving", ServingConfig)
