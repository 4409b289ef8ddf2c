"""The recommendation log: one record per served list, shipped through Kafka and copied into
MongoDB for online evaluation (which lists were shown, by which model version, how fast).

A replica gathers its records and sends them every `serving.log_flush_interval_s` as one Kafka
message (a JSON array): a Kafka send per served list cost the replica more CPU than answering
from the cache.
Every record carries a unique `request_id`; the sink inserts each under that id and leaves an id
already there as it is, so a batch redelivered after a crash adds no duplicates.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from kafka import KafkaConsumer
from pymongo.collection import Collection

from hz45.errors import ServiceUnavailable
from hz45.stores.mongo import insert_new
from serving.producer import BackgroundProducer
from serving.worker import BackgroundWorker

log = logging.getLogger(__name__)

# Records per message at most: a few hundred kilobytes, well under Kafka's 1 MB message limit.
RECORDS_PER_MESSAGE = 1000


# A random prefix per process and a counter: unique across replicas and restarts, without the
# system call per request that uuid4 makes (measurable on the request path).
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


def log_record(
    request_id: str,
    listener_id: int,
    items: list[int],
    scores: list[float],
    model_name: str,
    model_version: str,
    cold_start: bool,
    cached: bool,
    latency_ms: float,
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "listener_id": listener_id,
        "items": items,
        "scores": scores,
        "model_name": model_name,
        "model_version": model_version,
        "cold_start": cold_start,
        "cached": cached,
        "latency_ms": round(latency_ms, 3),
        "served_at": datetime.now(timezone.utc).isoformat(),
    }


class LogBatcher(BackgroundWorker):
    """Gathers a replica's log records and sends them as one message every `interval_s`. Records
    that cannot be sent (the broker is away) are dropped and counted: serving a list matters more
    than logging it."""

    def __init__(self, producer: BackgroundProducer, topic: str, interval_s: float):
        super().__init__("recommendation-log-batcher", retry_s=interval_s)
        self.producer = producer
        self.topic = topic
        self.interval_s = interval_s
        self.dropped = 0
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(record)

    def work(self) -> None:
        while not self.stopping:
            self.pause(self.interval_s)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        for start in range(0, len(batch), RECORDS_PER_MESSAGE):
            chunk = batch[start : start + RECORDS_PER_MESSAGE]
            try:
                self.producer.send(self.topic, None, json.dumps(chunk, separators=(",", ":")).encode())
            except ServiceUnavailable:
                self.dropped += len(chunk)

    def stop(self, timeout_s: float = 10) -> None:
        super().stop(timeout_s)
        self.flush()


def to_document(record: dict[str, Any]) -> dict[str, Any]:
    """A log record as stored in MongoDB: `_id` is the request id, `served_at` a BSON date."""
    doc = {**record, "_id": record["request_id"]}
    doc["served_at"] = datetime.fromisoformat(record["served_at"])
    return doc


def to_documents(raw: bytes) -> list[dict[str, Any]]:
    """The documents of one Kafka message: a batch of records (or a single one)."""
    records = json.loads(raw)
    return [to_document(r) for r in (records if isinstance(records, list) else [records])]


def write_batch(collection: Collection, raws: Iterable[bytes]) -> int:
    """Insert the records of a batch of messages; returns how many were new. A message that is
    not a log record is skipped with a warning rather than blocking the partition forever."""
    docs = []
    for raw in raws:
        try:
            docs.extend(to_documents(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("recommendation log: skipped a malformed record: %s", exc)
    return insert_new(collection, docs)


class LogSink(BackgroundWorker):
    """Consumes the log topic in a consumer group and writes each polled batch, committing the
    offsets only after MongoDB has the batch (at-least-once, made exact by the upsert)."""

    def __init__(
        self,
        consumer_factory: Callable[[], KafkaConsumer],
        collection_factory: Callable[[], Collection],
        batch_size: int,
        retry_s: float = 2.0,
    ):
        super().__init__("recommendation-log-sink", retry_s)
        self.consumer_factory = consumer_factory
        self.collection_factory = collection_factory
        self.batch_size = batch_size
        self.written = 0

    def status(self) -> dict[str, Any]:
        return {"running": self.running, "written": self.written, "last_error": self.last_error}

    def work(self) -> None:
        collection = self.collection_factory()
        consumer = self.consumer_factory()
        try:
            while not self.stopping:
                polled = consumer.poll(timeout_ms=500, max_records=self.batch_size)
                raws = [r.value for records in polled.values() for r in records]
                if not raws:
                    continue
                self.written += write_batch(collection, raws)
                consumer.commit()
                self.last_error = None
        finally:
            consumer.close()
