"""Kafka producers, consumers and the admin client through kafka-python, addressed by `kafka.*`.

`ensure_topics()` creates the product's topics with explicit partitions and retention; the
per-user feature topic is log-compacted, so a reader that starts late still gets every user's
latest features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from hz45.errors import ServiceUnavailable
from hz45.settings import Settings, get_settings

T = TypeVar("T")
# More copies than this buy nothing for the product's topics; fewer brokers cap it.
MAX_REPLICATION = 3


def producer(settings: Settings | None = None, **overrides: Any) -> KafkaProducer:
    """A producer for `kafka.bootstrap_servers`; keyword arguments go to KafkaProducer."""
    return _connect(KafkaProducer, settings, overrides)


def consumer(*topics: str, settings: Settings | None = None, **overrides: Any) -> KafkaConsumer:
    """A consumer subscribed to `topics`; keyword arguments (group_id, ...) go to KafkaConsumer."""
    return _connect(lambda **cfg: KafkaConsumer(*topics, **cfg), settings, overrides)


def admin(settings: Settings | None = None, **overrides: Any) -> KafkaAdminClient:
    return _connect(KafkaAdminClient, settings, overrides)


def topic_specs(settings: Settings | None = None) -> dict[str, dict[str, str]]:
    """Each configured topic's name and its topic-level configs."""
    settings = settings or get_settings()
    topics, retention = settings.kafka.topics, str(settings.kafka.retention_ms)
    deleted = {"cleanup.policy": "delete", "retention.ms": retention}
    compacted = {
        "cleanup.policy": "compact",
        # Compact after an hour's segment at 10% stale records, rather than the broker's
        # week-long default segments, so the topic stays small on a laptop.
        "segment.ms": "3600000",
        "min.cleanable.dirty.ratio": "0.1",
    }
    return {
        topics.raw_events: deleted,
        topics.dead_letter: deleted,
        topics.recommendation_log: deleted,
        topics.user_features: compacted,
    }


def ensure_topics(settings: Settings | None = None) -> dict[str, bool]:
    """Create the configured topics that do not exist yet. Returns {topic: created_now}.

    Existing topics are left as they are (their configs are not changed).
    """
    settings = settings or get_settings()
    specs = topic_specs(settings)
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        replicas = min(MAX_REPLICATION, len(client.describe_cluster()["brokers"]))
        missing = {
            name: {"num_partitions": settings.kafka.partitions, "replication_factor": replicas, "configs": cfg}
            for name, cfg in specs.items() if name not in existing
        }
        if missing:
            try:
                client.create_topics(missing, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                pass  # created by another process in the meantime: the goal is reached
    finally:
        client.close()
    return {name: name in missing for name in specs}


def _connect(factory: Callable[..., T], settings: Settings | None, overrides: dict[str, Any]) -> T:
    settings = settings or get_settings()
    cfg = {
        "bootstrap_servers": settings.kafka.bootstrap_servers.split(","),
        "client_id": settings.kafka.client_id,
        "bootstrap_timeout_ms": settings.kafka.timeout_ms,
        **overrides,
    }
    try:
        return factory(**cfg)
    except (KafkaTimeoutError, KafkaConnectionError) as exc:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka.bootstrap_servers} does not answer ({type(exc).__name__})",
            "start it with `make services-up`",
        ) from None
