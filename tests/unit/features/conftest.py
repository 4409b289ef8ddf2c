"""One Spark session (local, two cores, no UI) and one configuration for all feature-job tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from feature_inputs import feature_settings
from features.session import spark_session
from hz45.settings import Settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return feature_settings(tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="session")
def spark(settings: Settings) -> Iterator[SparkSession]:
    session = spark_session(settings, "hz45-features-tests")
    yield session
    session.stop()
