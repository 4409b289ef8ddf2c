"""The `training:` section of the configuration."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hz45.settings import Settings, get_settings


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # CPU threads for BLAS and TensorFlow in one training process (Ray Tune runs several).
    threads: int = Field(default=1, ge=1)
    seed: int = 42
    # Where `hz45 train` writes fitted models (one folder per model).
    models_dir: Path = Path("data/models")
    dataset: str = "ml-100k"


def training_config(settings: Settings | None = None) -> TrainingConfig:
    settings = settings or get_settings()
    return settings.section("training", TrainingConfig)  # type: ignore[return-value]
