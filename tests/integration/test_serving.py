"""The serving app on real Ray Serve, the real broker, the real MongoDB-compatible server and a
real MLflow registry (SQLite in a temporary folder): recommendations for known and unknown
listeners, lists that follow streamed features within 5 s, a promotion under load with no failed
request, the recommendation log in MongoDB, and the 4xx answers to bad input."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from serving_model import promote, register

from hz45.catalog import load
from hz45.settings import load_settings
from hz45.stores import kafka as kafka_store
from hz45.stores import mongo as mongo_store

pytestmark = pytest.mark.integration

MODEL = "hz45-hybrid-test"
UNKNOWN_LISTENER = 900_001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dataset():
    return load("ml-100k")


@pytest.fixture(scope="module")
def app(tmp_path_factory, dataset):
    """Registry with version 1 as champion, fresh topics and collection, two API replicas."""
    tmp: Path = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{tmp}/mlflow.db"
    run = uuid.uuid4().hex[:8]
    env = {
        "HZ45_MLFLOW__TRACKING_URI": uri,
        "HZ45_SERVING__MODEL_NAME": MODEL,
        "HZ45_SERVING__PORT": str(free_port()),
        "HZ45_SERVING__WATCH_INTERVAL_S": "0.5",
        "HZ45_SERVING__DEPLOYMENT__NUM_REPLICAS": "2",
        "HZ45_SERVING__LOG_SINK__COLLECTION": f"recommendation_log_test_{run}",
        "HZ45_SERVING__LOG_SINK__GROUP_ID": f"hz45-test-log-sink-{run}",
        "HZ45_KAFKA__TOPICS__RAW_EVENTS": f"hz45.test.{run}.events.raw",
        "HZ45_KAFKA__TOPICS__USER_FEATURES": f"hz45.test.{run}.features.user",
        "HZ45_KAFKA__TOPICS__RECOMMENDATION_LOG": f"hz45.test.{run}.recommendations.log",
        "HZ45_KAFKA__TOPICS__DEAD_LETTER": f"hz45.test.{run}.events.dead-letter",
    }
    settings = load_settings(environ={**os.environ, **env})
    # Fail loudly, before Ray starts, when a server is missing.
    kafka_store.ensure_topics(settings)
    database = mongo_store.get_database(settings)

    promote(uri, MODEL, register(dataset, uri, MODEL, tmp, factors=32))

    import ray
    from ray import serve

    from serving.app import LOCAL_RAY, start_local

    os.environ.update(env)  # the replicas read the same configuration
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, **LOCAL_RAY)
    try:
        url = start_local(settings)
        with httpx.Client(base_url=url, timeout=30) as client:
            yield {"client": client, "url": url, "uri": uri, "tmp": tmp, "settings": settings, "db": database}
    finally:
        serve.shutdown()
        ray.shutdown()
        for key in env:
            os.environ.pop(key, None)
        database.drop_collection(env["HZ45_SERVING__LOG_SINK__COLLECTION"])
        admin = kafka_store.admin(settings)
        admin.delete_topics([v for k, v in env.items() if k.startswith("HZ45_KAFKA__TOPICS__")])
        admin.close()


def check_against_openapi(client: httpx.Client, response: httpx.Response, path: str, method: str = "get") -> None:
    doc = client.get("/openapi.json").json()
    content = doc["paths"][path][method]["responses"][str(response.status_code)]["content"]
    schema = {**content["application/json"]["schema"], "components": doc["components"]}
    OAS31Validator(schema).validate(response.json())


def test_a_known_listener_gets_a_personal_list(app, dataset):
    client = app["client"]
    response = client.get("/recommendations/1", params={"n": 7})
    assert response.status_code == 200
    check_against_openapi(client, response, "/recommendations/{user_id}")
    body = response.json()
    assert body["cold_start"] is False and body["model"] == {"name": MODEL, "version": "1"}
    items = [i["item_id"] for i in body["items"]]
    seen = set(dataset.interactions.loc[dataset.interactions.user_id == 1, "item_id"])
    assert len(items) == 7 and len(set(items)) == 7 and not seen & set(items)
    assert [i["score"] for i in body["items"]] == sorted((i["score"] for i in body["items"]), reverse=True)
    assert all(i["reason"] for i in body["items"])


def test_an_unknown_listener_gets_the_cold_start_list(app, dataset):
    body = app["client"].get(f"/recommendations/{UNKNOWN_LISTENER + 1}").json()
    assert body["cold_start"] is True and len(body["items"]) == 10
    popular = set(dataset.interactions["item_id"].value_counts().index[:100])
    assert {i["item_id"] for i in body["items"]} <= popular


def test_post_takes_context_and_exclusions(app):
    client = app["client"]
    plain = client.post("/recommendations", json={"user_id": 2, "n": 5}).json()
    excluded = [plain["items"][0]["item_id"], plain["items"][1]["item_id"]]
    response = client.post("/recommendations", json={"user_id": 2, "n": 5, "context": [50], "exclude": excluded})
    assert response.status_code == 200
    check_against_openapi(client, response, "/recommendations", "post")
    items = [i["item_id"] for i in response.json()["items"]]
    assert len(items) == 5 and not set(excluded) & set(items) and 50 not in items


def test_similar_tracks_and_an_unknown_track(app):
    client = app["client"]
    response = client.get("/tracks/1/similar", params={"n": 4})
    assert response.status_code == 200
    check_against_openapi(client, response, "/tracks/{track_id}/similar")
    assert len(response.json()["items"]) == 4 and 1 not in [i["item_id"] for i in response.json()["items"]]
    missing = client.get("/tracks/99999999/similar")
    assert missing.status_code == 404 and "99999999" in missing.json()["error"]


def test_model_and_health(app):
    client = app["client"]
    model = client.get("/model")
    check_against_openapi(client, model, "/model")
    assert model.json()["version"] == "1" and model.json()["alias"] == "champion"
    assert set(model.json()["metrics"]) >= {"blend_weight_als", "blend_weight_content"}
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["kafka"]["connected"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("get", "/recommendations/1?n=0", None, 422, "n"),
        ("get", "/recommendations/1?n=101", None, 422, "n"),
        ("get", "/recommendations/someone", None, 422, "user_id"),
        ("post", "/recommendations", {"user_id": 1, "n": 500}, 422, "n"),
        ("post", "/recommendations", {"user_id": 1, "context": ["a"]}, 422, "context.0"),
        ("post", "/recommendations", {"n": 3}, 422, "user_id"),
        ("post", "/events", {"schema_version": 1, "listener_id": 1}, 422, "event_id"),
    ],
)
def test_bad_input_gets_the_documented_code(app, method, path, body, status, field):
    response = app["client"].request(method.upper(), path, json=body)
    assert response.status_code == status
    assert response.json()["error"].startswith(f"{field}: ")


def feature_update(listener: int, recent: list[int]) -> dict:
    """A feature update as the streaming job writes it (streaming/features.py documents it)."""
    now = int(time.time() * 1000)
    return {
        "schema_version": 1,
        "listener_id": listener,
        "updated_at": now,
        "last_event_time": now,
        "events": len(recent),
        "plays": len(recent),
        "skips": 0,
        "skip_rate": 0.0,
        "recent_tracks": recent,
        "audio_profile": None,
    }


def test_streamed_plays_change_the_list_within_5_seconds(app, dataset):
    client, settings = app["client"], app["settings"]
    listener = UNKNOWN_LISTENER
    before = client.get(f"/recommendations/{listener}").json()
    assert before["cold_start"] and not before["online_features"]
    again = client.get(f"/recommendations/{listener}").json()
    assert again["cached"] or again["items"] == before["items"]

    played = [172, 181]  # The Empire Strikes Back, Return of the Jedi
    producer = kafka_store.producer(settings)
    producer.send(
        settings.kafka.topics.user_features,
        key=str(listener).encode(),
        value=json.dumps(feature_update(listener, played)).encode(),
    ).get(timeout=10)
    producer.close()
    sent = time.monotonic()

    # Every replica must have it: several requests per check land on both replicas.
    while True:
        bodies = [client.get(f"/recommendations/{listener}").json() for _ in range(4)]
        if all(b["online_features"] for b in bodies):
            break
        assert time.monotonic() - sent < 5.0, "the feature update did not reach every replica within 5 s"
        time.sleep(0.1)
    after = bodies[-1]
    assert after["items"] != before["items"]
    assert not set(played) & {i["item_id"] for i in after["items"]}
    titles = dataset.items.set_index("item_id")["title"]
    assert any(titles[t] in i["reason"] for i in after["items"] for t in played)


def test_an_event_is_produced_to_the_raw_topic(app):
    client, settings = app["client"], app["settings"]
    event = {
        "schema_version": 1,
        "event_id": f"e-{uuid.uuid4().hex[:12]}",
        "listener_id": 4242,
        "track_id": 50,
        "type": "skip",
        "timestamp": int(time.time() * 1000),
        "ms_played": 1200,
        "session_id": "s-4242-1",
        "client": "web",
    }
    response = client.post("/events", json=event)
    assert response.status_code == 202
    check_against_openapi(client, response, "/events", "post")
    consumer = kafka_store.consumer(
        settings.kafka.topics.raw_events, settings=settings, group_id=None, auto_offset_reset="earliest"
    )
    try:
        deadline = time.monotonic() + 10
        records = []
        while time.monotonic() < deadline and not records:
            records = [r for batch in consumer.poll(timeout_ms=500).values() for r in batch]
    finally:
        consumer.close()
    assert [(r.key, json.loads(r.value)) for r in records] == [(b"4242", event)]


def test_every_served_list_reaches_mongodb(app):
    client, db = app["client"], app["db"]
    served = [client.get(f"/recommendations/{u}", params={"n": 3}).json() for u in (11, 12, 13)]
    collection = db[os.environ["HZ45_SERVING__LOG_SINK__COLLECTION"]]
    wanted = {b["request_id"]: b for b in served}
    deadline = time.monotonic() + 15
    docs = []
    while time.monotonic() < deadline and len(docs) < len(wanted):
        docs = list(collection.find({"_id": {"$in": list(wanted)}}))
        time.sleep(0.2)
    assert len(docs) == len(wanted)
    for doc in docs:
        body = wanted[doc["_id"]]
        assert doc["listener_id"] == body["user_id"]
        assert doc["items"] == [i["item_id"] for i in body["items"]]
        assert doc["model_version"] == "1" and doc["latency_ms"] >= 0


async def _request_stream(url: str, stop: asyncio.Event, concurrency: int) -> list[tuple[int, str | None]]:
    results: list[tuple[int, str | None]] = []

    async def worker(k: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            i = 0
            while not stop.is_set():
                i += 1
                response = await client.get(f"/recommendations/{(k * 1000 + i) % 943 + 1}")
                version = response.json()["model"]["version"] if response.status_code == 200 else None
                results.append((response.status_code, version))

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return results


def test_a_promotion_under_load_swaps_with_no_failed_request(app, dataset):
    uri, url = app["uri"], app["url"]
    version = register(dataset, uri, MODEL, app["tmp"], factors=16)
    assert version == "2"

    async def scenario() -> list[tuple[int, str | None]]:
        stop = asyncio.Event()
        stream = asyncio.create_task(_request_stream(url, stop, concurrency=4))
        await asyncio.sleep(2.0)
        promote(uri, MODEL, version)
        promoted = time.monotonic()
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            while time.monotonic() - promoted < 20:
                checks = [(await client.get("/model")).json()["version"] for _ in range(4)]
                if checks == ["2"] * 4:
                    break
                await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        stop.set()
        return await stream

    results = asyncio.run(scenario())
    statuses = {status for status, _ in results}
    versions = [v for _, v in results]
    assert statuses == {200}, f"failed requests during the swap: {[s for s, _ in results if s != 200][:5]}"
    assert len(results) > 50
    assert versions[0] == "1" and versions[-1] == "2" and set(versions) == {"1", "2"}
