"""The HTTP API's answers to bad input and to a registry without a champion, without Ray:
the FastAPI app over a service whose registry has no promoted version and whose broker is away."""

import pytest
from fastapi.testclient import TestClient

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

EVENT = {
    "schema_version": 1,
    "event_id": "e-1",
    "listener_id": 7,
    "track_id": 42,
    "type": "play",
    "timestamp": 1717236000000,
    "ms_played": 180000,
    "session_id": "s-7-1",
    "client": "web",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = load_settings(environ={})
    config = serving_config(settings)
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry')}/mlflow.db"
    producer = BackgroundProducer(lambda: None)
    service = RecommendationService(
        config=config,
        topics=settings.kafka.topics,
        # Never started: no version is loaded, no broker is connected.
        watcher=ModelWatcher(Registry(uri, config.model_name, config.alias), interval_s=60),
        features=OnlineFeatures(lambda: None, settings.kafka.topics.user_features),
        producer=producer,
        log=LogBatcher(producer, settings.kafka.topics.recommendation_log, interval_s=60),
        cache=ListenerCache(config.cache_ttl_s, config.cache_max_entries),
        ack_timeout_s=1.0,
    )
    return TestClient(build_api(service, config))


def test_no_champion_is_a_503_that_says_how_to_promote(client):
    for response in (client.get("/recommendations/1"), client.get("/model"), client.get("/tracks/1/similar")):
        assert response.status_code == 503
        assert "hz45 promote" in response.json()["error"]
    assert client.get("/healthz").json()["status"] == "no_model"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/recommendations/1?n=0", "n"),
        ("/recommendations/1?n=101", "n"),
        ("/recommendations/1?n=ten", "n"),
        ("/recommendations/abc", "user_id"),
        ("/recommendations/-1", "user_id"),
        (f"/recommendations/{2**64}", "user_id"),
        ("/tracks/x/similar", "track_id"),
        ("/tracks/1/similar?n=1000", "n"),
    ],
)
def test_bad_parameters_are_a_422_naming_the_field(client, path, field):
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"n": 5}, "user_id"),
        ({"user_id": 1, "n": 0}, "n"),
        ({"user_id": 1, "n": 101}, "n"),
        ({"user_id": 1, "context": "12"}, "context"),
        ({"user_id": 1, "context": [1, "x"]}, "context.1"),
        ({"user_id": 1, "exclude": [-5]}, "exclude.0"),
        ({"user_id": 1, "context": list(range(1001))}, "context"),
        ({"user_id": 1, "colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_are_a_422_naming_the_field(client, body, field):
    response = client.post("/recommendations", json=body)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}: ")


def test_a_body_that_is_not_json_is_a_422(client):
    response = client.post("/recommendations", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "jump"}, "type"),
        ({"listener_id": "7"}, "listener_id"),
        ({"track_id": None}, "track_id"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_a_bad_event_is_a_422_naming_the_field(client, change, field):
    response = client.post("/events", json={**EVENT, **change})
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}: ")


def test_an_event_missing_a_field_and_a_non_object_are_named(client):
    missing = {k: v for k, v in EVENT.items() if k != "session_id"}
    assert client.post("/events", json=missing).json()["error"] == "session_id: missing"
    assert client.post("/events", content=b"[1]").json()["error"].startswith("payload: ")


def test_a_valid_event_with_the_broker_away_is_a_503_not_a_500(client):
    response = client.post("/events", json=EVENT)
    assert response.status_code == 503
    assert "Kafka" in response.json()["error"]


def test_the_openapi_description_lists_every_endpoint(client):
    doc = client.get("/openapi.json").json()
    assert {
        "/recommendations/{user_id}",
        "/recommendations",
        "/tracks/{track_id}/similar",
        "/events",
        "/model",
        "/healthz",
    } <= set(doc["paths"])
    event_schema = doc["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "listener_id" in event_schema["properties"]
    assert client.get("/docs").status_code == 200
