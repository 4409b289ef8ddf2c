"""Integration tests run against the real local servers; they are started here if they are not
running, and the whole run fails loudly when one cannot start (never a skip)."""

from __future__ import annotations

import pytest

from hz45 import services
from hz45.errors import Hz45Error
from hz45.settings import Settings, load_settings


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def local_servers() -> list[services.ServiceState]:
    """MariaDB, Kafka and FerretDB up and answering (a no-op when `make services-up` ran)."""
    try:
        return services.up()
    except Hz45Error as exc:
        pytest.fail(f"the local servers could not start: {exc.line()}", pytrace=False)


@pytest.fixture(scope="session")
def services_settings() -> Settings:
    """The `services` profile: the main DB on MariaDB, Kafka and MongoDB on the local servers."""
    return load_settings(profile="services")
