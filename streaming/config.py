"""The `streaming:` section of the configuration, validated once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hz45.settings import Settings

# What Spark accepts for a trigger interval, e.g. "1 second", "10 minutes".
INTERVAL = r"^\d+ (millisecond|second|minute|hour|day)s?$"
UNIT_MS = {"millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sinks(Strict):
    """Outputs that can be switched off. The dead-letter topic cannot: invalid events are
    never dropped silently."""

    raw_log: bool = True
    features_mongo: bool = True
    features_topic: bool = True
    charts: bool = True

    @model_validator(mode="after")
    def _mongo_copy_needs_the_topic(self) -> "Sinks":
        if self.features_mongo and not self.features_topic:
            raise ValueError("features_mongo needs features_topic: MongoDB's feature documents are copied from the topic")
        return self


class Replay(Strict):
    rate: float = Field(gt=0)
    malformed_share: float = Field(ge=0, lt=1)
    # original: the dataset's own timestamps; live: each event stamped when it is sent.
    clock: Literal["original", "live"]
    # A new session starts after this much silence from a listener (dataset replays).
    session_gap_s: int = Field(gt=0)


class StreamingConfig(Strict):
    trigger_interval: str = Field(pattern=INTERVAL)
    checkpoint_dir: Path
    starting_offsets: Literal["earliest", "latest"]
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    # An event id seen again within this long (processing time) counts once.
    dedupe_window: str = Field(pattern=INTERVAL)
    last_n: int = Field(ge=1)
    profile_plays: int = Field(ge=1)
    hour_windows: int = Field(ge=1)
    # "db": the main database's track table; otherwise a catalog dataset name.
    track_features: str
    # The Kafka source; Maven Central had no build for every Spark release, so it is configurable.
    kafka_connector: str
    spark_ui: bool
    # Further Spark settings for the job's session, passed through (they win over the job's own).
    spark_conf: dict[str, str] = Field(default_factory=dict)
    events_collection: str
    features_collection: str
    # How often MongoDB's copy of the feature documents catches up with the topic.
    features_mongo_interval_s: float = Field(gt=0)
    sinks: Sinks
    replay: Replay


def interval_ms(interval: str) -> int:
    """An INTERVAL string in milliseconds."""
    count, unit = interval.split()
    return int(count) * UNIT_MS[unit.rstrip("s")]


def load_config(settings: Settings) -> StreamingConfig:
    return settings.section("streaming", StreamingConfig)
