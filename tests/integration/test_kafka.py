"""The project's Kafka broker: a produce/consume round trip with a key and headers, and the
product's topics created with their configs (the user-features topic compacted)."""

from __future__ import annotations

import uuid

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from hz45.settings import load_settings
from hz45.stores import kafka


def test_produce_consume_round_trip_with_key_and_header(services_settings):
    topic = f"hz45.it.roundtrip.{uuid.uuid4().hex[:8]}"
    client = kafka.admin(services_settings)
    try:
        client.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)
        producer = kafka.producer(services_settings)
        sent = [
            (f"user-{i}".encode(), f'{{"n": {i}}}'.encode(), [("event-type", b"play"), ("seq", str(i).encode())])
            for i in range(5)
        ]
        for key, value, headers in sent:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(timeout=30)
        producer.close()

        consumer = kafka.consumer(
            topic,
            settings=services_settings,
            group_id=f"it-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            consumer_timeout_ms=15000,
        )
        got = []
        for record in consumer:
            got.append((record.key, record.value, list(record.headers)))
            if len(got) == len(sent):
                break
        consumer.close()
    finally:
        client.delete_topics([topic])
        client.close()
    assert sorted(got) == sorted(sent)


def test_ensure_topics_creates_a_compacted_features_topic(services_settings):
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        profile="services",
        environ={
            f"HZ45_KAFKA__TOPICS__{key.upper()}": f"hz45.it.{key}.{suffix}"
            for key in ("raw_events", "dead_letter", "user_features", "recommendation_log")
        },
    )
    topics = settings.kafka.topics
    client = kafka.admin(settings)
    try:
        assert kafka.ensure_topics(settings) == {name: True for name in kafka.topic_specs(settings)}
        assert set(kafka.ensure_topics(settings).values()) == {False}

        described = {t["name"]: t for t in client.describe_topics([topics.user_features, topics.raw_events])}
        assert len(described[topics.user_features]["partitions"]) == settings.kafka.partitions
        configs = client.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topics.user_features),
                ConfigResource(ConfigResourceType.TOPIC, topics.raw_events),
            ]
        )
        features = configs["topic"][topics.user_features]
        raw = configs["topic"][topics.raw_events]
        assert features["cleanup.policy"]["value"] == "compact"
        assert raw["cleanup.policy"]["value"] == "delete"
        assert raw["retention.ms"]["value"] == str(settings.kafka.retention_ms)
    finally:
        client.delete_topics(list(kafka.topic_specs(settings)))
        client.close()


@pytest.mark.parametrize("topic_key", ["user_features"])
def test_the_product_topics_exist_after_ensure_topics(services_settings, topic_key):
    kafka.ensure_topics(services_settings)
    client = kafka.admin(services_settings)
    try:
        assert getattr(services_settings.kafka.topics, topic_key) in client.list_topics()
    finally:
        client.close()
