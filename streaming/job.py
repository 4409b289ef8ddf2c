"""The streaming job: raw events from Kafka -> raw log, dead letters, live charts, listener features.

Two Spark Structured Streaming queries read the raw topic through Spark's Kafka source, each
with its own checkpoint folder under `streaming.checkpoint_dir`, and both check every record with
`streaming.schema.validate_event`:

- `events`: invalid records -> dead-letter topic (original key and value, reason in headers);
  valid events -> MongoDB raw log (by event id) and plays per track and hour -> main DB.
- `features`: valid events with an event-time watermark, de-duplicated by event id, joined with
  the tracks' audio features (a broadcast table) and aggregated per listener in Spark's state
  store (streaming.features) -> the feature document in MongoDB and on the compacted feature
  topic, keyed by listener id.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from hz45 import catalog
from hz45.catalog.base import AUDIO_FEATURES
from hz45.settings import Settings
from hz45.stores import kafka, mongo, schema
from hz45.stores.sql import get_engine
from streaming import sinks
from streaming.config import StreamingConfig
from streaming.features import HOUR_MS, FeatureParams, listener_features
from streaming.parse import checked, dead_letters, valid_events
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


def feature_updates(events: DataFrame, tracks: DataFrame, config: StreamingConfig) -> DataFrame:
    """Valid events -> one feature document per listener that had events in the micro-batch."""
    params = FeatureParams.from_config(config)
    unique = events.withWatermark("event_time", config.watermark).dropDuplicatesWithinWatermark(["event_id"])
    return listener_features(unique.join(F.broadcast(tracks), "track_id", "left"), params)


def chart_counts(events: DataFrame) -> DataFrame:
    plays = events.where(F.col("type") == "play")
    return plays.groupBy((F.col("timestamp") - F.col("timestamp") % HOUR_MS).alias("hour_start"), "track_id").agg(
        F.count(F.lit(1)).alias("plays")
    )


@dataclass
class EventsSink:
    """foreachBatch of the `events` query."""

    settings: Settings
    config: StreamingConfig
    checkpoint: Path

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        batch.persist()
        try:
            invalid = batch.where("NOT check.ok").count()
            if invalid:
                (dead_letters(batch).write.format("kafka")
                 .option("kafka.bootstrap.servers", self.settings.kafka.bootstrap_servers)
                 .option("kafka.acks", "all")
                 .option("kafka.enable.idempotence", "true")
                 .option("topic", self.settings.kafka.topics.dead_letter)
                 .save())
            events = valid_events(batch)
            if self.config.sinks.raw_log:
                events.foreachPartition(sinks.raw_log_writer(self.settings, self.config.events_collection))
            if self.config.sinks.charts:
                counts = chart_counts(events).toPandas()
                sinks.add_chart_plays(get_engine(settings=self.settings), sinks.checkpoint_id(self.checkpoint),
                                      batch_id, counts)
        finally:
            batch.unpersist()


class FeaturesSink:
    """foreachBatch of the `features` query."""

    def __init__(self, settings: Settings, config: StreamingConfig):
        self.settings = settings
        self.config = config
        self.topic = settings.kafka.topics.user_features
        self.producer = kafka.producer(settings, **PRODUCER_OPTIONS) if config.sinks.features_topic else None
        self.collection = (
            mongo.get_database(settings)[config.features_collection] if config.sinks.features_mongo else None
        )
        self.mongo_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="features-mongo")

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        rows = batch.collect()
        # The MongoDB write runs beside the topic's: it mostly waits on the server, and the batch
        # (and with it the features' freshness on the topic) must not wait for both in turn.
        mongo_write = None
        if self.collection is not None:
            docs = [{"_id": r["listener_id"], **json.loads(r["document"])} for r in rows]
            mongo_write = self.mongo_writer.submit(sinks.replace_documents, self.collection, docs)
        if self.producer is not None:
            sinks.publish(self.producer, self.topic, ((r["listener_id"], r["document"]) for r in rows))
        if mongo_write is not None:
            mongo_write.result()  # both are done (or raise) before Spark commits the batch

    def close(self) -> None:
        self.mongo_writer.shutdown()
        if self.producer is not None:
            self.producer.close()


@dataclass
class Job:
    spark: SparkSession
    queries: list[StreamingQuery]
    features_sink: FeaturesSink

    def stop(self) -> None:
        for query in self.queries:
            query.stop()

    def await_termination(self) -> None:
        """Until every query ends (available-now runs) or one fails; a failure stops the others
        and is raised. Logs each query's micro-batches as they complete."""
        logged: dict[str, int] = {}
        try:
            while any(q.isActive for q in self.queries):
                for query in self.queries:
                    if not query.isActive and query.exception() is not None:
                        raise query.exception()
                    _log_progress(query, logged)
                time.sleep(0.5)
            for query in self.queries:
                if query.exception() is not None:
                    raise query.exception()
        finally:
            self.stop()
            self.features_sink.close()


def _log_progress(query: StreamingQuery, logged: dict[str, int]) -> None:
    progress = query.lastProgress
    if not progress or logged.get(query.name) == progress["batchId"]:
        return
    logged[query.name] = progress["batchId"]
    durations = progress["durationMs"]
    # Where the time went (Spark's own phases: addBatch is the sink, getBatch the source read...).
    phases = ", ".join(f"{k} {v / 1000:.1f}" for k, v in durations.items() if k != "triggerExecution" and v >= 100)
    log.info("%s batch %d: %d records in %.1f s (%.0f/s processed; %s)", query.name, progress["batchId"],
             progress["numInputRows"], durations.get("triggerExecution", 0) / 1000,
             progress.get("processedRowsPerSecond") or 0.0, phases)


def start(settings: Settings, config: StreamingConfig, available_now: bool = False) -> Job:
    """Start both queries; they resume from their checkpoints when these exist."""
    missing = [t for t, created in kafka.ensure_topics(settings).items() if created]
    if missing:
        log.info("created topics %s", ", ".join(missing))
    if config.sinks.charts:
        sinks.metadata.create_all(get_engine(settings=settings), checkfirst=True)
    audio = track_audio(settings, config)
    if audio.empty:
        log.warning("no track has audio features (streaming.track_features=%s): audio profiles stay empty",
                    config.track_features)
    root = settings.path(config.checkpoint_dir)
    # Connect to the stores before Spark starts, so a server that is down fails in seconds.
    features_sink = FeaturesSink(settings, config)
    spark = spark_session(settings, config)
    tracks = spark.createDataFrame(audio)

    def trigger(writer):
        return writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime=config.trigger_interval)

    records = checked(kafka_records(spark, settings, config))
    events_query = trigger(
        records.writeStream.queryName("hz45-events")
        .option("checkpointLocation", str(root / "events"))
        .foreachBatch(EventsSink(settings, config, root / "events"))
    ).start()
    features_query = trigger(
        feature_updates(valid_events(checked(kafka_records(spark, settings, config))), tracks, config)
        .writeStream.queryName("hz45-features")
        .outputMode("update")
        .option("checkpointLocation", str(root / "features"))
        .foreachBatch(features_sink)
    ).start()
    return Job(spark, [events_query, features_query], features_sink)


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
