"""Replay a dataset's timestamped interactions into the raw event topic, in time order, at a set rate.

How interactions become events (one event per interaction):
- play, skip, like and dislike keep their type. A MovieLens rating becomes
  5 -> like, 4 or 3 -> play, 2 -> skip, 1 -> dislike.
- ms_played: a play lasts the track's duration_ms (DEFAULT_DURATION_MS when the dataset has none),
  a skip a tenth of it, a like or dislike 0 (a reaction, not listening).
- event_id: "<dataset>-<position in time order>", so replaying a dataset twice sends the same ids
  and the raw event log (upserted by event id) does not grow.
- session_id: "<listener>-<n>", a new session after `session_gap_s` of silence from the listener.
- timestamp: the interaction's own time (clock "original") or the moment it is sent (clock "live",
  which keeps the order but makes event time follow the wall clock, as live traffic does).
Every record is checked with `validate_event` before it is sent; malformed records are only
those injected on purpose (`malformed_share`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from hz45 import catalog
from hz45.catalog.base import Dataset
from hz45.settings import Settings
from hz45.stores import kafka
from hz45.stores.rdkafka import EventProducer
from streaming.malformed import malformed
from streaming.schema import SCHEMA_VERSION, Event, validate_event

DEFAULT_DURATION_MS = 210_000
# Nothing lost, nothing doubled by the producer's retries: every replica acknowledges, and the
# broker drops a retried batch it already has. Kafka's own option names (librdkafka and the
# Java clients share them).
PRODUCER_OPTIONS = {"acks": "all", "enable.idempotence": True, "linger.ms": 5, "batch.size": 131_072}
RATING_TYPES = {5: "like", 4: "play", 3: "play", 2: "skip", 1: "dislike"}
CLIENT = "replay"
PACE_S = 0.002
Clock = Literal["original", "live"]


def dataset_events(dataset: Dataset, session_gap_s: int) -> pd.DataFrame:
    """The dataset's interactions as event fields (timestamp from the data), in time order."""
    inter = dataset.interactions.sort_values(["timestamp", "user_id", "item_id"], kind="stable", ignore_index=True)
    kinds = inter["event_type"].astype(object).to_numpy().copy()
    ratings = inter["event_type"].to_numpy() == "rating"
    kinds[ratings] = inter.loc[ratings, "value"].round().astype(int).map(RATING_TYPES).to_numpy()
    if pd.isna(kinds).any():
        raise ValueError(f"dataset {dataset.name}: ratings outside 1..5 have no event type")

    durations = dataset.items.set_index("item_id")["duration_ms"] if "duration_ms" in dataset.items else None
    full = inter["item_id"].map(durations) if durations is not None else pd.Series(np.nan, index=inter.index)
    full = full.fillna(DEFAULT_DURATION_MS).round().astype("int64")
    played = np.select([kinds == "play", kinds == "skip"], [full, full // 10], 0)

    stamp_ms = inter["timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    gap = stamp_ms.groupby(inter["user_id"]).diff()
    new_session = (gap.isna() | (gap > session_gap_s * 1000)).astype(int)
    session_no = new_session.groupby(inter["user_id"]).cumsum()
    return pd.DataFrame({
        "schema_version": SCHEMA_VERSION,
        "event_id": [f"{dataset.name}-{i}" for i in range(len(inter))],
        "listener_id": inter["user_id"].astype("int64"),
        "track_id": inter["item_id"].astype("int64"),
        "type": kinds,
        "timestamp": stamp_ms.to_numpy(),
        "ms_played": played.astype("int64"),
        "session_id": inter["user_id"].astype(str) + "-" + session_no.astype(str),
        "client": CLIENT,
    })


@dataclass
class Record:
    key: bytes | None
    value: bytes
    event: Event | None  # None for an injected malformed record
    malformed_kind: str | None = None


def records(
    events: pd.DataFrame,
    clock: Clock,
    malformed_share: float = 0.0,
    seed: int = 0,
    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> Iterator[Record]:
    """Validated records of `events` in order, with malformed ones mixed in at `malformed_share`
    of all records (deterministic by seed)."""
    rng = np.random.default_rng(seed)
    bad = 0
    names = list(events.columns)
    # Row by row (not to_dict of the whole frame), so sending starts at once on large replays.
    for row in events.itertuples(index=False, name=None):
        doc: dict[str, Any] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in zip(names, row)}
        if clock == "live":
            doc["timestamp"] = now_ms()
        event = validate_event(doc)
        if malformed_share and rng.random() < malformed_share / (1 - malformed_share):
            kind, _, payload = malformed(event, bad)
            yield Record(event.key(), payload, None, kind)
            bad += 1
        yield Record(event.key(), event.to_json(), event)


@dataclass
class ReplayReport:
    valid: int = 0
    malformed: int = 0
    seconds: float = 0.0
    malformed_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return (self.valid + self.malformed) / self.seconds if self.seconds else 0.0


def send(
    stream: Iterator[Record],
    producer: EventProducer,
    topic: str,
    rate: float,
    limit: int | None = None,
    on_sent: Callable[[int], None] = lambda n: None,
) -> ReplayReport:
    """Send records at `rate` per second (paced against a start time, so short stalls are
    caught up), stop after `limit` records, and flush: every record is acknowledged on return,
    or ServiceUnavailable names the first failure."""
    report = ReplayReport()
    start = time.perf_counter()
    sent = 0
    for record in stream:
        if limit is not None and sent >= limit:
            break
        delay = start + sent / rate - time.perf_counter()
        # Sleep only when ahead by more than PACE_S: a sleep per record costs more than its send.
        if delay > PACE_S:
            time.sleep(delay)
        producer.send(topic, record.key, record.value)
        sent += 1
        if record.event is None:
            report.malformed += 1
            report.malformed_kinds[record.malformed_kind] = report.malformed_kinds.get(record.malformed_kind, 0) + 1
        else:
            report.valid += 1
        if sent % 1000 == 0:
            on_sent(1000)
    producer.flush()
    on_sent(sent % 1000)
    report.seconds = time.perf_counter() - start
    return report


def replay(
    settings: Settings,
    dataset: str,
    rate: float,
    limit: int | None,
    malformed_share: float,
    clock: Clock,
    session_gap_s: int,
    on_sent: Callable[[int], None] = lambda n: None,
) -> ReplayReport:
    """Replay a catalog dataset into the raw event topic (created first if missing)."""
    kafka.ensure_topics(settings)
    events = dataset_events(catalog.load(dataset), session_gap_s)
    producer = EventProducer(settings, **PRODUCER_OPTIONS)
    try:
        stream = records(events, clock, malformed_share, seed=settings.data.seed)
        return send(stream, producer, settings.kafka.topics.raw_events, rate, limit, on_sent)
    finally:
        producer.close()
