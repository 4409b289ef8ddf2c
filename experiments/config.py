"""The `tuning:` and `promotion:` sections of the configuration, validated once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hz45.settings import Settings, get_settings


def _non_negative(value: dict[str, float], what: str) -> dict[str, float]:
    bad = [k for k, v in value.items() if v < 0]
    if bad:
        raise ValueError(f"{what} '{bad[0]}' must not be negative")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AshaConfig(Strict):
    # Epochs every trial gets before ASHA may stop it, and the share kept at each rung (1/factor).
    grace_period: int = Field(default=2, ge=1)
    reduction_factor: int = Field(default=2, ge=2)


class RegistryNames(Strict):
    svd: str = "hz45-svd"
    ncf: str = "hz45-ncf"
    # The served model: serving reads models:/<hybrid>@champion.
    hybrid: str = "hz45-hybrid"


class TuningConfig(Strict):
    # Trials running at once; with `resources_per_trial` this decides how much of the cluster a sweep takes.
    max_concurrent: int = Field(default=2, ge=1)
    resources_per_trial: dict[str, float] = {"cpu": 1.0}
    # A finished trial's worker process takes the next trial: TensorFlow and MLflow load once.
    reuse_actors: bool = True
    # Share of each listener's development rows that trains a trial; the rest validates it.
    train_ratio: float = Field(default=0.8, gt=0.0, lt=1.0)
    k: int = Field(default=10, ge=1)
    seed: int = 42
    search_spaces: Path = Path("configs/search_spaces")
    # Ray Tune's own results (trial folders, experiment state).
    storage_dir: Path = Path("run/tune")
    # Ray Tune's progress output: 0 silent, 1 the trial table, 2 every result.
    verbose: int = Field(default=1, ge=0, le=2)
    plots: bool = True
    asha: AshaConfig = AshaConfig()
    registry: RegistryNames = RegistryNames()

    _resources = field_validator("resources_per_trial")(lambda v: _non_negative(v, "resource"))


class HoldoutConfig(Strict):
    # Share of each listener's rows frozen away from every sweep and used only by the gate.
    share: float = Field(default=0.1, gt=0.0, lt=1.0)
    seed: int = 20240601
    dir: Path = Path("data/holdout")


class PromotionConfig(Strict):
    primary_metric: str = "ndcg_at_10"
    # The challenger must beat the champion's primary metric by at least this much (absolute).
    margin: float = Field(default=0.002, ge=0.0)
    # Largest drop (absolute) of each secondary metric the gate accepts.
    secondary_tolerances: dict[str, float] = {
        "precision_at_10": 0.005,
        "recall_at_10": 0.01,
        "hr_at_10": 0.01,
        "coverage": 0.05,
    }
    # Recent tracks passed to the model as context, as the serving app passes them.
    context_tracks: int = Field(default=20, ge=0)
    holdout: HoldoutConfig = HoldoutConfig()

    _tolerances = field_validator("secondary_tolerances")(lambda v: _non_negative(v, "tolerance of"))


def tuning_config(settings: Settings | None = None) -> TuningConfig:
    return (settings or get_settings()).section("tuning", TuningConfig)  # type: ignore[return-value]


def promotion_config(settings: Settings | None = None) -> PromotionConfig:
    return (settings or get_settings()).section("promotion", PromotionConfig)  # type: ignore[return-value]
