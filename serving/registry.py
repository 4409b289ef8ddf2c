"""Finding and loading the served model version from the MLflow registry.

Serving needs nothing but the tracking URI: the alias says which version, and the version's
artifacts carry the whole model.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hz45.settings import Settings
from serving.model import ServedModel

log = logging.getLogger(__name__)

PROMOTE_HINT = "train and register a hybrid, then promote a version with `hz45 promote`"


class NoChampion(Exception):
    """The alias points at no version yet."""


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: str
    alias: str
    run_id: str | None


@dataclass(frozen=True)
class LoadedVersion:
    """A fully loaded model version; replaced as a whole, never mutated, on promotion."""

    ref: VersionRef
    model: ServedModel
    metrics: dict[str, float]
    loaded_at: datetime

    def describe(self) -> dict:
        return {
            "name": self.ref.name,
            "version": self.ref.version,
            "alias": self.ref.alias,
            "run_id": self.ref.run_id,
            "metrics": self.metrics,
            "loaded_at": self.loaded_at.isoformat(),
        }


def tracking_uri(settings: Settings) -> str:
    """The configured tracking URI, with a relative SQLite path made absolute from the repo root,
    so replicas whose working directory differs open the same file."""
    uri = settings.mlflow.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(settings.path(uri[len(prefix) :]))
    return uri


def no_champion_message(name: str, alias: str) -> str:
    return f"no version of model '{name}' has alias '{alias}' yet: {PROMOTE_HINT}"


class Registry:
    """Reads one registered model's alias and loads the version it points at."""

    def __init__(self, uri: str, name: str, alias: str):
        self.uri, self.name, self.alias = uri, name, alias
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def resolve(self) -> VersionRef:
        """The version the alias points at now; NoChampion when there is none."""
        try:
            mv = self.client.get_model_version_by_alias(self.name, self.alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise NoChampion(no_champion_message(self.name, self.alias)) from None
            raise
        return VersionRef(name=self.name, version=str(mv.version), alias=self.alias, run_id=mv.run_id)

    def load(self, ref: VersionRef) -> LoadedVersion:
        """Download and load a pinned version (never the moving alias, which could change between
        resolving and loading)."""
        tmp = tempfile.mkdtemp(prefix="hz45-model-")
        try:
            # The version's own artifact location, so nothing depends on process-wide MLflow URIs.
            source = self.client.get_model_version_download_uri(ref.name, ref.version)
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=self.uri)
            loaded = LoadedVersion(
                ref=ref,
                model=ServedModel(mlflow.pyfunc.load_model(local)),
                metrics=self._metrics(ref),
                loaded_at=datetime.now(timezone.utc),
            )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # A model may read its files lazily, so they live as long as the version object does:
        # until it is swapped out and the last request still using it has finished.
        weakref.finalize(loaded, shutil.rmtree, tmp, True)
        log.info("loaded %s version %s", ref.name, ref.version)
        return loaded

    def _metrics(self, ref: VersionRef) -> dict[str, float]:
        mv = self.client.get_model_version(ref.name, ref.version)
        metrics = {m.key: m.value for m in (mv.metrics or [])}
        if ref.run_id:
            metrics = {**self.client.get_run(ref.run_id).data.metrics, **metrics}
        return metrics
