"""MongoDB's copies of two topics, each kept by a thread of the streaming job.

- The raw log: every valid event on the raw topic (checked with `validate_event`, as everywhere),
  inserted by event id, so an id already in the log is left as it is. Copying from the topic
  rather than from each micro-batch keeps MongoDB off the query's critical path: a micro-batch
  never waits for the log and the log never waits for a micro-batch.
- The feature documents: the latest update per listener on the compacted feature topic, one
  delete and one insert every `streaming.features_mongo_interval_s`. Batching matters on
  FerretDB, where replacing a document costs a scan of the collection: once per interval rather
  than per micro-batch.

Each copy commits its consumer offsets only after writing, so a crash copies some records again,
which changes nothing (the event id is already there, the document is replaced by the same one)
and loses none. Partitions are assigned by hand (one copy per job, no rebalancing); the group id
only names where the offsets are kept. With no offsets yet, the raw log starts where the query
does (`streaming.starting_offsets`), the feature documents at the start of their topic.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from confluent_kafka import Message

from hz45.settings import Settings
from hz45.stores import mongo
from hz45.stores.rdkafka import PartitionReader
from streaming.config import StreamingConfig
from streaming.schema import InvalidEvent, validate_event
from streaming.sinks import event_document, replace_documents

log = logging.getLogger(__name__)
POLL_S = 0.2
POLL_RECORDS = 5000
# Fetch in chunks of a few hundred kilobytes (or whatever 200 ms brought): on a busy topic a
# fetch per record set costs the broker more CPU than the copy saves in latency.
FETCH = {"fetch.min.bytes": 256 * 1024, "fetch.wait.max.ms": 200}


class TopicCopy:
    """A thread that reads `topic` from its committed offsets, hands records to `add` and calls
    `write` (then commits) whenever `due`; `finish` copies up to the end offsets and stops."""

    name = "copy"

    def __init__(self, settings: Settings, topic: str, start: str):
        self.topic = topic
        # Fixes a `latest` start now, before the query starts.
        self.reader = PartitionReader(topic, self.group_id(settings), start, settings, **FETCH)
        self.error: BaseException | None = None
        self.copied = 0
        self._finish = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    @classmethod
    def group_id(cls, settings: Settings) -> str:
        """Where the copy's offsets are committed: what it has written, for anyone to follow."""
        return f"{settings.kafka.client_id}.{cls.name}"

    def add(self, records: list[Message]) -> None:
        raise NotImplementedError

    def due(self, idle_s: float) -> bool:
        raise NotImplementedError

    def write(self) -> int:
        """Write what was added since the last write; returns how many documents it wrote."""
        raise NotImplementedError

    def start(self) -> "TopicCopy":
        self._thread.start()
        return self

    def finish(self, timeout_s: float = 120) -> None:
        """Copy what is on the topic now, then stop; raises what stopped the copy early."""
        self._finish.set()
        self._thread.join(timeout_s)
        if self.error is not None:
            raise self.error
        if self._thread.is_alive():
            raise TimeoutError(f"MongoDB's copy of {self.topic} did not catch up in {timeout_s:.0f}s")

    def _run(self) -> None:
        try:
            last_write = time.monotonic()
            end: dict[int, int] | None = None
            while True:
                self.add(self.reader.read(POLL_RECORDS, POLL_S))
                if self._finish.is_set() and end is None:
                    end = self.reader.end_offsets()
                if end is not None and self.reader.at(end):
                    break
                if self.due(time.monotonic() - last_write):
                    self._write()
                    last_write = time.monotonic()
            self._write()
        except Exception as exc:  # noqa: BLE001 - handed to the job, which stops and raises it
            self.error = exc
        finally:
            self.reader.close()

    def _write(self) -> None:
        self.copied += self.write()
        self.reader.commit()


class RawLogCopy(TopicCopy):
    name = "raw-log"

    def __init__(self, settings: Settings, config: StreamingConfig):
        super().__init__(settings, settings.kafka.topics.raw_events, config.starting_offsets)
        self.collection = mongo.get_database(settings)[config.events_collection]
        self.pending: list[dict[str, Any]] = []

    def add(self, records: list[Message]) -> None:
        for record in records:
            try:
                self.pending.append(event_document(validate_event(record.value()).model_dump()))
            except InvalidEvent:
                pass  # the query sends it to the dead-letter topic

    def due(self, idle_s: float) -> bool:
        return bool(self.pending)

    def write(self) -> int:
        docs, self.pending = self.pending, []
        return mongo.insert_new(self.collection, docs)


class FeatureCopy(TopicCopy):
    name = "features-mongo"

    def __init__(self, settings: Settings, config: StreamingConfig):
        super().__init__(settings, settings.kafka.topics.user_features, "earliest")
        self.interval_s = config.features_mongo_interval_s
        self.collection = mongo.get_database(settings)[config.features_collection]
        self.pending: dict[bytes, bytes] = {}

    def add(self, records: list[Message]) -> None:
        for record in records:
            self.pending[record.key()] = record.value()

    def due(self, idle_s: float) -> bool:
        return bool(self.pending) and idle_s >= self.interval_s

    def write(self) -> int:
        pending, self.pending = self.pending, {}
        replace_documents(self.collection, [{"_id": int(k), **json.loads(v)} for k, v in pending.items()])
        return len(pending)
