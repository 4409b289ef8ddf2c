"""The replica's Kafka producer, connected in the background.

Recommendations must keep flowing while the broker is away, so the producer is created on a
thread with retries instead of in the replica's constructor: until it is connected, events are
refused with a 503 and recommendation log lines are counted as dropped.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from kafka import KafkaProducer
from kafka.errors import KafkaError

from hz45.errors import ServiceUnavailable
from serving.worker import BackgroundWorker


def encode_key(listener_id: int | None) -> bytes | None:
    return None if listener_id is None else str(int(listener_id)).encode()


def encode_value(value: dict[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()


class BackgroundProducer(BackgroundWorker):
    def __init__(self, factory: Callable[[], KafkaProducer], retry_s: float = 2.0):
        super().__init__("kafka-producer", retry_s)
        self.factory = factory
        self._producer: KafkaProducer | None = None
        self.failed_sends = 0

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def work(self) -> None:
        self._producer = self.factory()
        self.last_error = None

    def send(self, topic: str, listener_id: int | None, value: dict[str, Any] | bytes):
        """Queue one record keyed by listener id (None: no key); the returned future resolves
        when the broker has it. Raises ServiceUnavailable while the broker cannot be reached."""
        producer = self._producer
        if producer is None:
            raise ServiceUnavailable(
                f"Kafka is not reachable ({self.last_error or 'connecting'})",
                "start it with `hz45 services up`",
            )
        try:
            future = producer.send(topic, key=encode_key(listener_id), value=encode_value(value))
        except KafkaError as exc:  # e.g. no metadata for the topic within max_block_ms
            self._count_failure(exc)
            raise ServiceUnavailable(f"Kafka refused the record: {type(exc).__name__}: {exc}") from None
        future.add_errback(self._count_failure)
        return future

    async def send_and_wait(self, topic: str, listener_id: int, value: dict[str, Any] | bytes, timeout_s: float):
        """Send and wait for the broker's acknowledgement without blocking the event loop."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def resolve(metadata):
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(metadata))

        def fail(exc):
            loop.call_soon_threadsafe(lambda: done.done() or done.set_exception(exc))

        self.send(topic, listener_id, value).add_callback(resolve).add_errback(fail)
        try:
            return await asyncio.wait_for(done, timeout_s)
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise ServiceUnavailable(f"Kafka did not acknowledge the record: {type(exc).__name__}") from None

    def _count_failure(self, exc: Exception) -> None:
        self.failed_sends += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.stop()
        if self._producer is not None:
            self._producer.close(timeout=5)
