"""The alias watcher against a real MLflow registry (SQLite in a temporary folder): nothing to
serve before a promotion, a swap when the alias moves, and a version that fails to load never
replacing the one being served; then lists served from that model with the broker away."""

import gc

import mlflow
import pytest
from fastapi.testclient import TestClient
from serving_model import promote, register

from hz45.catalog import load
from hz45.settings import load_settings
from serving.api import build_api
from serving.cache import ListenerCache
from serving.config import serving_config
from serving.features import OnlineFeatures
from serving.producer import BackgroundProducer
from serving.reclog import LogBatcher
from serving.registry import Registry
from serving.service import RecommendationService
from serving.watcher import ModelWatcher

NAME = "hz45-hybrid-watch"


class Unloadable(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        raise RuntimeError("artifacts unreadable")

    def predict(self, context, model_input, params=None):
        return model_input


def register_unloadable(uri: str) -> str:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Unloadable(), registered_model_name=NAME)
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("watch")
    return Registry(f"sqlite:///{folder}/mlflow.db", NAME, "champion"), folder


def test_the_watcher_follows_the_alias_and_keeps_serving_through_a_broken_version(registry):
    registry, folder = registry
    swapped = []
    watcher = ModelWatcher(registry, interval_s=60, on_swap=swapped.append)

    assert watcher.check() is False and watcher.current is None
    assert "hz45 promote" in watcher.last_error

    dataset = load("dummy")
    promote(registry.uri, NAME, register(dataset, registry.uri, NAME, folder, factors=8))
    assert watcher.check() is True
    assert watcher.current.ref.version == "1" and [s.ref.version for s in swapped] == ["1"]
    assert watcher.check() is False  # same version: nothing reloaded

    promote(registry.uri, NAME, register_unloadable(registry.uri))
    assert watcher.check() is False and watcher.check() is False
    assert watcher.current.ref.version == "1"
    assert "version 2 failed to load" in watcher.last_error
    assert len(watcher.current.model.recommend(int(dataset.users["user_id"].iloc[0]), 5, [], []).items) == 5

    promote(registry.uri, NAME, register(dataset, registry.uri, NAME, folder, factors=4))
    assert watcher.check() is True and watcher.current.ref.version == "3"
    assert [s.ref.version for s in swapped] == ["1", "3"] and watcher.swaps == 2
    # The served version is out of the collector's generations: a full collection never walks it.
    tracked = {id(o) for o in gc.get_objects()}
    assert gc.get_freeze_count() > 0 and id(watcher.current) not in tracked and id(watcher.current.model) not in tracked
    gc.unfreeze()  # the rest of the test session collects as usual


def test_lists_are_served_while_the_broker_is_away(registry):
    """The log record of a list cannot be sent: the list is still served and the loss counted."""
    registry, _ = registry
    watcher = ModelWatcher(registry, interval_s=60)
    watcher.check()  # the champion the test above left: version 3
    settings = load_settings(environ={})
    config = serving_config(settings)
    producer = BackgroundProducer(lambda: None)  # never connected
    service = RecommendationService(
        config=config,
        topics=settings.kafka.topics,
        watcher=watcher,
        features=OnlineFeatures(lambda: None, settings.kafka.topics.user_features),
        producer=producer,
        log=LogBatcher(producer, settings.kafka.topics.recommendation_log, interval_s=60),
        cache=ListenerCache(config.cache_ttl_s, config.cache_max_entries),
        ack_timeout_s=1.0,
    )
    client = TestClient(build_api(service, config))
    first, again = client.get("/recommendations/1?n=4"), client.get("/recommendations/1?n=4")
    assert first.status_code == again.status_code == 200
    assert len(first.json()["items"]) == 4 and first.json()["model"]["version"] == "3"
    assert again.json()["cached"] and again.json()["items"] == first.json()["items"]
    service.log.flush()
    assert service.log.dropped == 2
    assert client.post("/recommendations", json={"user_id": 1, "n": 4, "exclude": [1]}).status_code == 200
    track = int(load("dummy").items["item_id"].iloc[0])
    similar = client.get(f"/tracks/{track}/similar?n=3")
    assert similar.status_code == 200 and len(similar.json()["items"]) == 3
    assert client.get(f"/tracks/{10**12}/similar").status_code == 404
