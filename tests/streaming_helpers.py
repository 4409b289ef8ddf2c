"""Shared by the streaming integration tests and benchmark: an isolated run of the streaming job
(its own topics, MongoDB database, checkpoints and main DB) on the real local servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from hz45.settings import Settings, load_settings
from hz45.stores import kafka, mongo
from streaming.config import load_config


class StreamRun:
    """Configuration (as environment variables) that points every store at names unique to
    this run, so runs never see each other's data on a shared broker and server."""

    def __init__(self, folder: Path, run_id: str | None = None, **overrides: str):
        """A new run, or with `run_id` another job over the same topics and stores (with its own
        checkpoints and log under `folder`)."""
        self.run_id = run_id = run_id or uuid.uuid4().hex[:10]
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        topics = {name: f"hz45.test.{run_id}.{name}" for name in
                  ("raw_events", "dead_letter", "user_features", "recommendation_log")}
        self.env = {
            **os.environ,
            **{f"HZ45_KAFKA__TOPICS__{name.upper()}": topic for name, topic in topics.items()},
            "HZ45_MONGO__DATABASE": f"hz45_test_{run_id}",
            "HZ45_SQL__URL": f"sqlite:///{folder / 'main.db'}",
            "HZ45_STREAMING__CHECKPOINT_DIR": str(folder / "checkpoints"),
            "HZ45_STREAMING__TRACK_FEATURES": "dummy",
            "HZ45_SPARK__MASTER": "local[2]",
            "HZ45_SPARK__SHUFFLE_PARTITIONS": "2",
            **overrides,
        }
        self.settings: Settings = load_settings(environ=self.env)
        self.config = load_config(self.settings)
        self.jobs: list[subprocess.Popen] = []

    def start_job(self, *args: str) -> subprocess.Popen:
        """`hz45 stream run ARGS` in its own process group (so it can be killed whole)."""
        log = open(self.folder / f"job-{len(self.jobs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "hz45.cli", "stream", "run", *args], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.jobs.append(proc)
        return proc

    def run_job(self, *args: str, timeout_s: float = 600) -> None:
        proc = self.start_job(*args)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise AssertionError(f"the streaming job ran past {timeout_s}s; log: {self.log_tail()}") from None
        assert rc == 0, f"the streaming job failed (exit {rc}): {self.log_tail()}"

    def log_tail(self, chars: int = 3000) -> str:
        return (self.folder / f"job-{len(self.jobs) - 1}.log").read_text()[-chars:]

    def database(self):
        return mongo.get_database(self.settings)

    def close(self) -> None:
        for proc in self.jobs:
            if proc.poll() is None:
                kill(proc)
        admin = kafka.admin(self.settings)
        try:
            names = set(admin.list_topics())
            mine = [t for t in self.settings.kafka.topics.model_dump().values() if t in names]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
        sinks = self.config.sinks
        if sinks.raw_log or sinks.features_mongo:
            mongo.get_client(self.settings).drop_database(self.settings.mongo.database)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the job's whole process group: the Python driver and Spark's JVM."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def read_topic(settings: Settings, topic: str, timeout_s: float = 60) -> list[Any]:
    """Every record on `topic` now, partition by partition in offset order."""
    consumer = kafka.consumer(settings=settings, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: dict[TopicPartition, list[Any]] = {p: [] for p in partitions}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(p) < end[p] for p in partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic}: could not read to its end in {timeout_s}s")
            for tp, batch in consumer.poll(timeout_ms=500).items():
                records[tp].extend(batch)
        return [r for p in partitions for r in records[p]]
    finally:
        consumer.close()
