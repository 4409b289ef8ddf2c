"""serving.batch without a trained model: the listeners come from the main DB of the right
dataset, a missing champion is a one-line error, and no running app means nothing to wait for.
The lists themselves are checked end to end in tests/integration/test_airflow_dags.py."""

from __future__ import annotations

import os
import socket

import pytest

from hz45 import catalog
from hz45.errors import Hz45Error
from hz45.settings import load_settings
from hz45.stores.load import load_dataset
from hz45.stores.sql import get_engine
from serving.batch import confirm_served, listeners, precompute_recommendations


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings(tmp_path):
    return load_settings(environ={
        **os.environ,
        "HZ45_SQL__URL": f"sqlite:///{tmp_path / 'main.db'}",
        "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "HZ45_SERVING__PORT": str(free_port()),
    })


@pytest.fixture
def engine(settings):
    engine = get_engine(settings=settings)
    load_dataset(catalog.load("dummy"), engine, limit=300, progress=False)
    return engine


def test_listeners_are_the_main_dbs_users_of_that_dataset(engine):
    users = listeners(engine, "dummy")
    assert users == sorted(set(users)) and len(users) > 1
    with pytest.raises(Hz45Error, match="the main DB holds dummy, not 'ml-100k'"):
        listeners(engine, "ml-100k")


def test_precomputing_without_a_champion_says_how_to_get_one(settings, engine):
    with pytest.raises(Hz45Error, match="no version of model 'hz45-hybrid' has alias 'champion'"):
        precompute_recommendations(settings, "dummy", 10, engine)


def test_no_running_app_means_nothing_to_wait_for(settings):
    assert confirm_served(settings, "3", timeout_s=30) == "not running"
