"""The online feature store of one replica: the compacted per-listener feature topic, replayed
from its beginning at start and then followed, kept in memory.

The request path only reads a dict, so recommendations never wait on a database or the broker.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

from kafka import KafkaConsumer, TopicPartition

from serving.worker import BackgroundWorker

log = logging.getLogger(__name__)

# Fields of a feature update (documented with the streaming job that writes them).
LISTENER_FIELD = "listener_id"
RECENT_FIELD = "recent_tracks"


def parse_update(key: bytes | None, value: bytes | None) -> tuple[int, dict[str, Any] | None]:
    """(listener id, features) of one record; features None for a tombstone (listener removed).
    Raises ValueError for a record that is not a feature update."""
    if value is None:
        if key is None:
            raise ValueError("tombstone without a key")
        return int(key), None
    doc = json.loads(value)
    if not isinstance(doc, dict) or LISTENER_FIELD not in doc:
        raise ValueError(f"feature update without '{LISTENER_FIELD}'")
    return int(doc[LISTENER_FIELD]), doc


class OnlineFeatures(BackgroundWorker):
    """Follows the feature topic on a daemon thread; `get` is safe from any thread."""

    def __init__(
        self,
        consumer_factory: Callable[[], KafkaConsumer],
        topic: str,
        on_update: Callable[[int], None] = lambda listener: None,
        retry_s: float = 2.0,
    ):
        super().__init__("online-features", retry_s)
        self.consumer_factory = consumer_factory
        self.topic = topic
        self.on_update = on_update
        self._features: dict[int, dict[str, Any]] = {}
        self.replayed = threading.Event()
        self.applied = 0
        self.rejected = 0

    def get(self, listener: int) -> dict[str, Any] | None:
        return self._features.get(listener)

    def recent_tracks(self, listener: int) -> list[int]:
        doc = self._features.get(listener)
        return [int(t) for t in doc.get(RECENT_FIELD) or []] if doc else []

    def __len__(self) -> int:
        return len(self._features)

    def status(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "replayed": self.replayed.is_set(),
            "listeners": len(self._features),
            "applied": self.applied,
            "rejected": self.rejected,
            "last_error": self.last_error,
        }

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            listener, doc = parse_update(key, value)
        except (ValueError, TypeError) as exc:
            self.rejected += 1
            log.warning("feature topic %s: skipped a record: %s", self.topic, exc)
            return
        if doc is None:
            self._features.pop(listener, None)
        else:
            self._features[listener] = doc
        self.applied += 1
        self.on_update(listener)

    def work(self) -> None:
        consumer = self.consumer_factory()
        try:
            partitions = self._partitions(consumer)
            if not partitions:
                return
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            end = consumer.end_offsets(partitions)
            self.last_error = None
            while not self.stopping:
                for records in consumer.poll(timeout_ms=200).values():
                    for record in records:
                        self.apply(record.key, record.value)
                if not self.replayed.is_set() and all(consumer.position(p) >= end[p] for p in partitions):
                    self.replayed.set()
                    log.info("feature topic %s replayed: %d listeners", self.topic, len(self._features))
        finally:
            consumer.close()

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        """The topic's partitions, waiting for the topic to be created."""
        while not self.stopping:
            ids = consumer.partitions_for_topic(self.topic)
            if ids:
                return [TopicPartition(self.topic, p) for p in sorted(ids)]
            self.last_error = f"topic {self.topic} does not exist yet"
            self.pause(self.retry_s)
        return []
