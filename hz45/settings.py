"""Typed configuration: YAML in configs/ -> validated objects, overridable from the environment.

Load order: configs/default.yaml, then configs/<profile>.yaml (HZ45_PROFILE), then environment
variables HZ45_<SECTION>__<KEY>[__<KEY>...]. Unknown keys are errors, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hz45.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "HZ45_"
# Variables with the prefix that are not configuration keys.
RESERVED_ENV = {"HZ45_PROFILE", "HZ45_CONFIG_DIR"}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSettings(Section):
    root: Path
    cache_dir: Path
    features_dir: Path
    seed: int = 42


class SqlSettings(Section):
    url: str
    echo: bool = False


class MongoSettings(Section):
    uri: str
    database: str
    timeout_ms: int = Field(gt=0)


class KafkaTopics(Section):
    raw_events: str
    dead_letter: str
    user_features: str
    recommendation_log: str


class KafkaSettings(Section):
    bootstrap_servers: str
    client_id: str
    timeout_ms: int = Field(gt=0)
    topics: KafkaTopics
    partitions: int = Field(ge=1)
    retention_ms: int = Field(gt=0)


class SparkSettings(Section):
    master: str
    driver_memory: str
    shuffle_partitions: int = Field(ge=1)
    packages_cache: Path


class RaySettings(Section):
    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)


class MlflowSettings(Section):
    tracking_uri: str
    artifact_root: Path
    experiment: str


class MariaDbService(Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    database: str
    user: str
    password: str


class KafkaService(Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    controller_port: int = Field(gt=0, lt=65536)
    version: str
    heap: str


class MongoService(Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    ferretdb_version: str
    backend: Literal["postgresql", "sqlite"]
    insert_batch: int = Field(gt=0)
    niceness: int = Field(ge=0, le=19)


class PostgresService(Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    database: str
    user: str
    password: str
    niceness: int = Field(ge=0, le=19)


class ServicesSettings(Section):
    run_dir: Path
    cache_dir: Path
    mariadb: MariaDbService
    kafka: KafkaService
    mongo: MongoService
    postgres: PostgresService


class SpotifyIngestSettings(Section):
    api_base: str
    auth_url: str
    market: str = Field(pattern=r"^[A-Z]{2}$")
    # Spotify caps search pages at 10 results since February 2026.
    page_size: int = Field(ge=1, le=10)
    tracks_per_artist: int = Field(ge=1, le=10)
    timeout_s: float = Field(gt=0)
    retries: int = Field(ge=0)
    backoff_factor: float = Field(ge=0)
    backoff_max_s: float = Field(ge=0)
    max_retry_after_s: float = Field(ge=0)
    fill_dataset: str | None


class IngestSettings(Section):
    spotify: SpotifyIngestSettings


# Sections owned by the stage packages: kept raw here and validated by the owning stage with
# its own model through Settings.section(), so the core does not import the stages.
STAGE_SECTIONS = ("features", "training", "tuning", "promotion", "streaming", "serving", "airflow", "demo")


class Settings(Section):
    """The whole configuration."""

    profile: str = "default"
    data: DataSettings
    sql: SqlSettings
    mongo: MongoSettings
    kafka: KafkaSettings
    spark: SparkSettings
    ray: RaySettings
    mlflow: MlflowSettings
    services: ServicesSettings
    ingest: IngestSettings
    features: dict[str, Any] = {}
    training: dict[str, Any] = {}
    tuning: dict[str, Any] = {}
    promotion: dict[str, Any] = {}
    streaming: dict[str, Any] = {}
    serving: dict[str, Any] = {}
    airflow: dict[str, Any] = {}
    demo: dict[str, Any] = {}

    def path(self, value: Path | str) -> Path:
        """A configured path, absolute, relative ones taken from the repository root."""
        p = Path(value)
        return p if p.is_absolute() else (ROOT / p).resolve()

    def section(self, name: str, model: type[BaseModel]) -> BaseModel:
        """Validate an extra top-level section (owned by a stage package) with its own model."""
        if name not in STAGE_SECTIONS:
            raise ConfigError(f"config: '{name}' is not a stage section")
        raw = getattr(self, name)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, prefix=name)) from None


def config_dir() -> Path:
    return Path(os.environ.get("HZ45_CONFIG_DIR", ROOT / "configs"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config: file {path} not found", "check HZ45_PROFILE / HZ45_CONFIG_DIR") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path.name} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path.name} must hold a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_overrides(environ: dict[str, str], known: dict[str, Any]) -> dict[str, Any]:
    """HZ45_A__B=value -> {"a": {"b": value}}; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        keys = name[len(ENV_PREFIX):].lower().split("__")
        node, where = known, []
        for key in keys[:-1]:
            where.append(key)
            if not isinstance(node, dict) or key not in node:
                raise ConfigError(f"config: unknown key '{'.'.join(where)}' from environment variable {name}")
            node = node[key]
        if not isinstance(node, dict) or keys[-1] not in node:
            raise ConfigError(f"config: unknown key '{'.'.join(keys)}' from environment variable {name}")
        target = out
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = yaml.safe_load(raw) if raw != "" else None
    return out


def _describe(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        return f"config: unknown key '{key}'"
    if err["type"] == "missing":
        return f"config: missing key '{key}'"
    return f"config: bad value for '{key}': {err['msg']} (got {err.get('input')!r})"


def load_settings(profile: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError naming the bad key."""
    environ = dict(os.environ if environ is None else environ)
    profile = profile or environ.get("HZ45_PROFILE") or "default"
    merged = _read_yaml(config_dir() / "default.yaml")
    if profile != "default":
        merged = _merge(merged, _read_yaml(config_dir() / f"{profile}.yaml"))
    merged = _merge(merged, _env_overrides(environ, merged))
    merged["profile"] = profile
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once at start."""
    return load_settings()
