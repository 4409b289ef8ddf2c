"""The streaming job: raw events from Kafka -> listener features, raw log, dead letters, live charts.

One Spark Structured Streaming query reads the raw topic through Spark's Kafka source (checkpoint
`streaming.checkpoint_dir`/stream), checks every record with `streaming.schema.validate_event`
(streaming.parse) and runs the listener operator (streaming.features), which de-duplicates events
by id, keeps each listener's state and looks up the tracks' audio features in a broadcast table.
Each micro-batch of its output is collected once and goes to the sinks (streaming.sinks):
- feature updates -> the compacted feature topic, keyed by listener id;
- invalid records -> dead-letter topic (original key and value, reason in headers);
- new events' plays per track and hour -> main DB (the live charts).
Two threads of the job copy topics into MongoDB (streaming.copies): the raw topic's valid events
into the raw log, and the feature topic into the feature documents.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from hz45 import catalog
from hz45.catalog.base import AUDIO_FEATURES
from hz45.settings import Settings
from hz45.stores import kafka, schema
from hz45.stores.rdkafka import EventProducer
from hz45.stores.sql import get_engine
from streaming import sinks
from streaming.config import StreamingConfig
from streaming.copies import FeatureCopy, RawLogCopy, TopicCopy
from streaming.features import EVENT, FEATURES, HOUR_MS, INVALID, FeatureParams, listener_features
from streaming.parse import RECORD_COLUMNS, checked, dead_letter_headers
from streaming.replay import PRODUCER_OPTIONS
from streaming.spark import spark_session

log = logging.getLogger(__name__)


def track_audio(settings: Settings, config: StreamingConfig) -> pd.DataFrame:
    """track_id and AUDIO_FEATURES of every track that has them: from the main DB's `tracks`,
    or from a catalog dataset's items when `streaming.track_features` names one."""
    columns = ["track_id", *AUDIO_FEATURES]
    if config.track_features == "db":
        tracks = schema.tracks
        query = (
            tracks.select().with_only_columns(*(tracks.c[c] for c in columns))
            .where(~tracks.c.audio_features_missing)
        )
        with get_engine(settings=settings).connect() as conn:
            frame = pd.read_sql(query, conn)
    else:
        frame = catalog.load(config.track_features).items.rename(columns={"item_id": "track_id"})[columns]
    return frame.dropna(subset=list(AUDIO_FEATURES)).astype({"track_id": "int64", **{f: "float64" for f in AUDIO_FEATURES}})


def kafka_records(spark: SparkSession, settings: Settings, config: StreamingConfig) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
        .option("subscribe", settings.kafka.topics.raw_events)
        .option("startingOffsets", config.starting_offsets)
    )
    if config.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", config.max_offsets_per_trigger)
    return reader.load()


def chart_counts(plays: pd.DataFrame) -> pd.DataFrame:
    """Plays per (hour_start, track_id) of plays with `timestamp` (epoch ms) and `track_id`."""
    hour_start = plays["timestamp"] - plays["timestamp"] % HOUR_MS
    return plays.groupby([hour_start.rename("hour_start"), "track_id"]).size().rename("plays").reset_index()


# What the sinks read of the operator's rows (streaming.features): one collect carries them all.
SINK_COLUMNS = ("kind", "listener_id", "document", "type", "timestamp", "track_id", *RECORD_COLUMNS,
                "error_field", "error_reason")


class BatchSink:
    """foreachBatch of the query: each micro-batch of the operator's rows collected once (as
    Arrow) and handed to every sink from the driver. A second Spark action on the batch would
    have to cache or recompute the operator's output, and every action costs a round of planning
    and scheduling, which on a small machine is most of a micro-batch's time."""

    def __init__(self, settings: Settings, config: StreamingConfig, checkpoint: Path, producer: EventProducer):
        self.settings = settings
        self.config = config
        self.checkpoint = checkpoint
        self.producer = producer

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        topics = self.settings.kafka.topics
        timer = _Timer()
        rows = batch.select(*SINK_COLUMNS).toArrow()
        kind = rows.column("kind")
        timer.lap("collect")
        if self.config.sinks.features_topic:
            updates = rows.filter(pc.equal(kind, FEATURES))
            for listener, document in zip(updates["listener_id"].to_pylist(), updates["document"].to_pylist()):
                self.producer.send(topics.user_features, str(listener).encode(), document.encode())
        for record in rows.filter(pc.equal(kind, INVALID)).to_pylist():
            self.producer.send(topics.dead_letter, record["key"], record["value"], dead_letter_headers(record))
        # The batch counts as written (and its offsets are committed) only once the broker has it all.
        self.producer.flush()
        timer.lap("kafka")
        if self.config.sinks.charts:
            plays = rows.filter(pc.and_(pc.equal(kind, EVENT), pc.equal(rows.column("type"), "play")))
            counts = chart_counts(plays.select(["timestamp", "track_id"]).to_pandas())
            sinks.add_chart_plays(get_engine(settings=self.settings), sinks.checkpoint_id(self.checkpoint),
                                  batch_id, counts)
            timer.lap("charts")
        log.info("batch %d sinks: %s", batch_id, timer)


class _Timer:
    """Seconds per sink of a micro-batch, for the job's log."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: list[str] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append(f"{name} {now - self.last:.2f}")
        self.last = now

    def __str__(self) -> str:
        return ", ".join(self.laps) or "nothing to write"


@dataclass
class Job:
    spark: SparkSession
    query: StreamingQuery
    copies: list[TopicCopy]
    producer: EventProducer

    def stop(self) -> None:
        self.query.stop()

    def await_termination(self) -> None:
        """Until the query ends (available-now runs, or stopped) or fails, logging its
        micro-batches; then MongoDB's copies catch up with their topics. A failure of the query
        or of a copy stops both and is raised."""
        logged: list[int] = []
        try:
            while self.query.isActive:
                for copy in self.copies:
                    if copy.error is not None:
                        raise copy.error
                _log_progress(self.query, logged)
                time.sleep(0.5)
            if self.query.exception() is not None:
                raise self.query.exception()
            _log_progress(self.query, logged)
            for copy in self.copies:
                copy.finish()
                log.info("MongoDB's copy of %s is up to date (%d documents written)", copy.topic, copy.copied)
        finally:
            self.stop()
            self.producer.close()


def _log_progress(query: StreamingQuery, logged: list[int]) -> None:
    progress = query.lastProgress
    if not progress or progress["batchId"] in logged[-1:]:
        return
    logged.append(progress["batchId"])
    durations = progress["durationMs"]
    # Where the time went (Spark's own phases: addBatch is the sinks, getBatch the source read...).
    phases = ", ".join(f"{k} {v / 1000:.1f}" for k, v in durations.items() if k != "triggerExecution" and v >= 100)
    log.info("batch %d: %d records in %.1f s (%.0f/s processed; %s)", progress["batchId"],
             progress["numInputRows"], durations.get("triggerExecution", 0) / 1000,
             progress.get("processedRowsPerSecond") or 0.0, phases)


def start(settings: Settings, config: StreamingConfig, available_now: bool = False) -> Job:
    """Start the query; it resumes from its checkpoint when there is one."""
    missing = [t for t, created in kafka.ensure_topics(settings).items() if created]
    if missing:
        log.info("created topics %s", ", ".join(missing))
    if config.sinks.charts:
        sinks.metadata.create_all(get_engine(settings=settings), checkfirst=True)
    audio = track_audio(settings, config)
    if audio.empty:
        log.warning("no track has audio features (streaming.track_features=%s): audio profiles stay empty",
                    config.track_features)
    checkpoint = settings.path(config.checkpoint_dir) / "stream"
    # Connected before Spark starts, so a server that is down fails in seconds. Acknowledged by
    # every replica, and not doubled by the producer's retries (PRODUCER_OPTIONS).
    producer = EventProducer(settings, **PRODUCER_OPTIONS)
    copies: list[TopicCopy] = []
    if config.sinks.raw_log:
        copies.append(RawLogCopy(settings, config))
    if config.sinks.features_mongo:
        copies.append(FeatureCopy(settings, config))
    spark = spark_session(settings, config)
    records = checked(kafka_records(spark, settings, config))
    # A valid record's raw value is not needed past the check (only dead letters carry it), so
    # it is not shuffled to the operator.
    records = records.withColumn("value", F.when(~F.col("ok"), F.col("value")))
    writer = (
        listener_features(records, audio, FeatureParams.from_config(config))
        .writeStream.queryName("hz45-stream")
        .outputMode("update")
        .option("checkpointLocation", str(checkpoint))
        .foreachBatch(BatchSink(settings, config, checkpoint, producer))
    )
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=config.trigger_interval)
    query = writer.start()
    for copy in copies:
        copy.start()
    return Job(spark, query, copies, producer)


def run(settings: Settings, config: StreamingConfig, available_now: bool = False) -> None:
    """Run the job until it is stopped (SIGTERM / Ctrl-C) or, with available_now, until every
    record on the topic when it started has been processed."""
    job = start(settings, config, available_now)

    def stop(signum, frame):
        job.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        job.await_termination()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
