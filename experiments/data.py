"""What a sweep learns from: a catalog dataset (optionally a sample of its listeners), minus the
frozen holdout, split per listener into the rows trials train on and the rows that score them."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow.data
import numpy as np
import pandas as pd
from mlflow.entities import Dataset as DatasetEntity

from hz45 import catalog
from hz45.catalog.base import Dataset
from hz45.errors import Hz45Error
from hz45.settings import Settings
from experiments.config import HoldoutConfig, promotion_config, tuning_config
from experiments.holdout import Holdout, frozen_holdout
from training.splits import stratified_split


SOURCE_TAG = "hz45.source_dataset"
USERS_TAG = "hz45.users"
DATASET_TAG = "hz45.dataset"


@dataclass(frozen=True)
class DataRef:
    """Which data a run learned from: a catalog dataset, optionally `users` listeners sampled
    from it; enough to rebuild the same splits and holdout anywhere. Recorded as run and
    model version tags."""

    source: str
    users: int | None = None

    @property
    def label(self) -> str:
        return f"{self.source}-users{self.users}" if self.users else self.source

    def tags(self) -> dict[str, str]:
        return {SOURCE_TAG: self.source, USERS_TAG: str(self.users or ""), DATASET_TAG: self.label}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> DataRef:
        if SOURCE_TAG not in tags:
            raise Hz45Error("the run or version does not record its dataset", f"tag {SOURCE_TAG} is missing")
        users = tags.get(USERS_TAG) or None
        return cls(tags[SOURCE_TAG], int(users) if users else None)

    def dataset(self, seed: int) -> Dataset:
        """The catalog dataset, or the interactions of `users` listeners drawn from it (by seed)."""
        data = catalog.load(self.source)
        if not self.users:
            return data
        everyone = np.sort(data.interactions["user_id"].unique())
        if self.users > len(everyone):
            raise Hz45Error(f"--users {self.users}: dataset '{self.source}' has only {len(everyone)} listeners")
        chosen = np.random.default_rng(seed).choice(everyone, size=self.users, replace=False)
        inter = data.interactions[data.interactions["user_id"].isin(chosen)].reset_index(drop=True)
        return Dataset(name=self.label, interactions=inter, items=data.items, users=data.users, artists=data.artists)


@dataclass(frozen=True)
class SweepData:
    ref: DataRef
    train: pd.DataFrame
    valid: pd.DataFrame
    items: pd.DataFrame
    holdout: Holdout

    @property
    def label(self) -> str:
        return self.ref.label

    def inputs(self) -> list[tuple[DatasetEntity, str]]:
        """The train and validation frames as MLflow datasets (name, digest, schema), with their
        context, to log as a run's inputs."""
        return [
            (_entity(self.train, f"{self.label}/train"), "training"),
            (_entity(self.valid, f"{self.label}/validation"), "validation"),
        ]

    def params(self) -> dict[str, object]:
        return {
            "data.dataset": self.label,
            "data.train_rows": len(self.train),
            "data.valid_rows": len(self.valid),
            "data.users": int(self.train["user_id"].nunique()),
            "data.items": len(self.items),
            "data.holdout_digest": self.holdout.digest,
        }


def _entity(frame: pd.DataFrame, name: str) -> DatasetEntity:
    # The pandas dataset computes MLflow's digest and schema; its entity is what run inputs store.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hint about integer id columns
        return mlflow.data.from_pandas(
            frame, source=str(catalog.data_root()), name=name, targets="value"
        )._to_mlflow_entity()


def holdout_for(dataset: Dataset, settings: Settings, config: HoldoutConfig) -> Holdout:
    return frozen_holdout(dataset.interactions, dataset.name, settings.path(config.dir), config.share, config.seed)


def sweep_data(ref: DataRef, settings: Settings) -> SweepData:
    """The dataset minus its frozen holdout, split per listener into train and validation rows
    (tuning.train_ratio, tuning.seed): the same rows for every sweep, registration and blend."""
    tuning = tuning_config(settings)
    dataset = ref.dataset(tuning.seed)
    frozen = holdout_for(dataset, settings, promotion_config(settings).holdout)
    train, valid = stratified_split(frozen.development(dataset.interactions), tuning.train_ratio, tuning.seed)
    return SweepData(ref, train, valid, dataset.items, frozen)
