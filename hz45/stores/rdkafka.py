"""librdkafka clients (confluent-kafka) for the paths that carry every event: the replay producer
and the streaming job's copies of topics into MongoDB.

Their batching and network I/O run in librdkafka's C threads, outside the GIL, so at thousands
of records a second they leave the CPU to the pipeline (the per-process CPU figures of
benchmarks/streaming_throughput.py). Admin work, serving and the tests use kafka-python through
`hz45.stores.kafka`; both address the same `kafka.*` settings.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from hz45.errors import ServiceUnavailable
from hz45.settings import Settings, get_settings


def _config(settings: Settings, overrides: dict[str, Any]) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka.bootstrap_servers, "client.id": settings.kafka.client_id, **overrides}


def _metadata(client: Producer | Consumer, settings: Settings, topic: str | None = None) -> Any:
    """The cluster's metadata. librdkafka connects lazily; asking for metadata makes a broker
    that is down fail now."""
    try:
        return client.list_topics(topic, timeout=settings.kafka.timeout_ms / 1000)
    except KafkaException:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka.bootstrap_servers} does not answer", "start it with `make services-up`",
        ) from None


# A broker that has just started creates its offsets topic on first use, and its group coordinator
# answers "not coordinator" or "loading" until the topic is loaded: seconds on a busy machine.
# librdkafka retries this for commits but not when asked for committed offsets.
COORDINATOR_WAIT_S = 30.0
COORDINATOR_STARTING = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                        KafkaError.COORDINATOR_NOT_AVAILABLE}


def committed(consumer: Consumer, partitions: list[TopicPartition], timeout_s: float) -> list[TopicPartition]:
    """The group's committed offsets of `partitions`, waiting for a coordinator that is starting."""
    deadline = time.monotonic() + COORDINATOR_WAIT_S
    while True:
        try:
            return consumer.committed(partitions, timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() not in COORDINATOR_STARTING or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


# Keys go to the partition the Java clients and kafka-python pick (murmur2), so one listener's
# records share a partition whichever client wrote them; librdkafka's own default hashes by CRC32.
PARTITIONER = {"partitioner": "murmur2_random"}


class EventProducer:
    """Queues records and, on `flush`, waits until the broker has every one of them or names the
    first that failed. Options use Kafka's own names (`acks`, `linger.ms`, ...)."""

    def __init__(self, settings: Settings | None = None, **options: Any):
        settings = settings or get_settings()
        self._producer = Producer(_config(settings, {**PARTITIONER, **options}))
        _metadata(self._producer, settings)
        self.failures: list[KafkaError] = []
        self.sent = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.05)
        self._producer.poll(0)  # serves delivery reports of earlier records
        self.sent += 1

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failures.append(error)

    def flush(self, timeout_s: float = 60) -> None:
        left = self._producer.flush(timeout_s)
        if left or self.failures:
            first = self.failures[0] if self.failures else f"no acknowledgement within {timeout_s:.0f}s"
            raise ServiceUnavailable(f"kafka: {left + len(self.failures)} of {self.sent} records not acknowledged: {first}")

    def close(self) -> None:
        self._producer.flush(5)


class PartitionReader:
    """Reads every partition of one topic from the offsets committed under `group_id` (or, where
    none are, from `start`: "earliest" or "latest", fixed when it is created). `commit` stores
    the position after the last record handed out, and nothing is committed otherwise."""

    def __init__(self, topic: str, group_id: str, start: str, settings: Settings | None = None, **options: Any):
        settings = settings or get_settings()
        self.topic = topic
        self.timeout_s = timeout_s = settings.kafka.timeout_ms / 1000
        self._consumer = Consumer(_config(settings, {"group.id": group_id, "enable.auto.commit": False,
                                                     "enable.auto.offset.store": False, **options}))
        try:
            metadata = _metadata(self._consumer, settings, topic).topics[topic]
            if metadata.error is not None:
                raise ServiceUnavailable(f"kafka: topic {topic}: {metadata.error.str()}")
        except ServiceUnavailable:
            self._consumer.close()  # or its threads go on retrying the broker until collected
            raise
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        self.positions: dict[int, int] = {}
        for tp in committed(self._consumer, partitions, timeout_s):
            low, high = self._consumer.get_watermark_offsets(tp, timeout=timeout_s)
            self.positions[tp.partition] = tp.offset if tp.offset >= 0 else (high if start == "latest" else low)
        self._consumer.assign([TopicPartition(topic, p, o) for p, o in self.positions.items()])

    def read(self, max_records: int, timeout_s: float) -> list[Message]:
        messages = self._consumer.consume(max_records, timeout_s)
        out = []
        for message in messages:
            if message.error() is not None:
                raise KafkaException(message.error())
            self.positions[message.partition()] = message.offset() + 1
            out.append(message)
        return out

    def end_offsets(self) -> dict[int, int]:
        return {p: self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=self.timeout_s)[1] for p in self.positions}

    def at(self, offsets: dict[int, int]) -> bool:
        return all(self.positions[p] >= n for p, n in offsets.items())

    def commit(self) -> None:
        self._consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in self.positions.items()],
                              asynchronous=False)

    def close(self) -> None:
        self._consumer.close()

