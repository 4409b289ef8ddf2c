"""The `features:` section of the configuration, validated once when a job starts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hz45.settings import Settings


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparkOptions(Strict):
    # The Spark UI is useful to watch a long job; tests and CI turn it off (HZ45_FEATURES__SPARK__UI=false).
    ui: bool = True
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    # Any further Spark configuration (executor memory, cluster options), passed through unchanged.
    conf: dict[str, str] = {}


class ClusterOptions(Strict):
    k_min: int = Field(4, ge=2)
    k_max: int = Field(12, ge=2)
    # Silhouette is quadratic in the rows it scores, so k is chosen on a sample of tracks.
    sample_size: int = Field(20000, ge=100)
    max_iter: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _range(self) -> ClusterOptions:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")
        return self


class RatingOptions(Strict):
    # Explicit ratings outside [min, max] are impossible values and are dropped.
    min: float = 1.0
    max: float = 5.0
    # auto: explicit ratings when the data has any, implicit play counts otherwise.
    source: Literal["auto", "explicit", "implicit"] = "auto"
    # confidence = 1 + alpha * ln(1 + plays / eps) (Hu, Koren and Volinsky's log scaling).
    confidence_alpha: float = Field(40.0, gt=0)
    confidence_eps: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _range(self) -> RatingOptions:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be above min ({self.min})")
        return self


class SplitOptions(Strict):
    folds: int = Field(5, ge=2)
    train_fraction: float = Field(0.75, gt=0, lt=1)


class QualityOptions(Strict):
    # Cleaning may remove at most this share of the raw events before the job fails: more means
    # the source is broken, not dirty.
    max_event_drop_fraction: float = Field(0.2, ge=0, le=1)
    max_item_drop_fraction: float = Field(0.01, ge=0, le=1)


class SqlOptions(Strict):
    # Write the feature and chart tables to the main DB as well as the offline store.
    enabled: bool = True
    # Parallel writers for servers; SQLite takes one writer whatever this says.
    writers: int = Field(4, ge=1)
    batch_rows: int = Field(5000, ge=1)


class FeaturesConfig(Strict):
    dataset: str = "lastfm-spotify"
    spark: SparkOptions = SparkOptions()
    clusters: ClusterOptions = ClusterOptions()
    trend_days: int = Field(7, ge=1)
    chart_hours: int = Field(24, ge=1)
    chart_top_n: int = Field(20, ge=1)
    affinity_top_n: int = Field(5, ge=1)
    ratings: RatingOptions = RatingOptions()
    splits: SplitOptions = SplitOptions()
    quality: QualityOptions = QualityOptions()
    sql: SqlOptions = SqlOptions()


def features_config(settings: Settings) -> FeaturesConfig:
    """The validated `features:` section; a bad key raises ConfigError naming it."""
    return settings.section("features", FeaturesConfig)  # type: ignore[return-value]
