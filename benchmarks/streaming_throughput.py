"""Streaming pipeline: sustained end-to-end throughput and freshness, beside the broker's ceiling.

1. Ceiling: Kafka's own producer perf tool (org.apache.kafka.tools.ProducerPerformance, from the
   same Maven project and local repository as the broker's jars) sends the same event payloads
   with the replay's producer settings (acks=all, idempotence) to a topic of its own.
2. Pipeline: the streaming job runs as `hz45 stream run` (1 s trigger, local[2], one state
   partition) on its own topics, MongoDB database and checkpoints; the replay producer sends
   dummy events stamped when sent at --rate, first for a WARMUP_S warm-up (the first
   micro-batches start Python workers and state stores, and the JVM compiles its hot code), then
   for --seconds, measured: throughput = events / (first send -> every event counted in the
   feature updates on the topic and written to the MongoDB raw log, as the raw log copy's
   committed offsets say); freshness = time a feature update becomes visible on the topic minus
   the event time of the newest event it counts.
Zero loss is checked: the raw log, the features' event counts and the dead-letter topic must
account for every event exactly. `--no-mongo` switches the MongoDB sinks off, to show the
Kafka -> Spark -> Kafka path alone (its figures are stored with the prefix `kafka_only_`).

    .venv/bin/python benchmarks/streaming_throughput.py [--rate 5000] [--seconds 60] [--no-mongo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil
import pymongo
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parents[1]
# The isolated-run helper (own topics, database, checkpoints) shared with the integration tests.
sys.path.insert(0, str(ROOT / "tests"))

from hz45 import catalog  # noqa: E402
from hz45.stores import kafka, load, schema, upsert  # noqa: E402
from hz45.stores.rdkafka import EventProducer, PartitionReader  # noqa: E402
from hz45.stores.sql import get_engine  # noqa: E402
from streaming.copies import RawLogCopy  # noqa: E402
from streaming.replay import PRODUCER_OPTIONS, dataset_events, records, send  # noqa: E402
from streaming_helpers import StreamRun, read_topic  # noqa: E402

from cpu import cpu_spent, cpu_times  # noqa: E402 - benchmarks/, the script's folder

RESULTS = ROOT / "benchmarks" / "results" / "streaming_throughput.json"
POM = ROOT / "scripts" / "kafka" / "pom.xml"
TARGET_EVENTS_PER_S = 5000
TARGET_FRESHNESS_P95_S = 3.0
# The job is a long-running service: measure it once the JVM's compilers have done most of their
# work (in its first minute they take a third of its CPU) and its state holds every listener.
WARMUP_S = 60
# One partition of listener state: on two cores shared with the broker, MongoDB and the producer,
# a second state partition costs more in per-task overhead than its parallelism brings.
SHUFFLE_PARTITIONS = "1"
PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency")


def kafka_classpath(run: StreamRun) -> str:
    """The classpath of the broker's Maven project (which includes kafka-tools), resolved from
    the same local repository the broker's jars came from."""
    services = run.settings.services
    out = run.folder / "kafka-classpath.txt"
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), f"-Dkafka.version={services.kafka.version}",
         f"-Dmaven.repo.local={run.settings.path(services.cache_dir) / 'maven'}",
         "dependency:build-classpath", f"-Dmdep.outputFile={out}"],
        check=True, timeout=600,
    )
    return out.read_text().strip()


def broker_ceiling(run: StreamRun, payloads: list[bytes], n_records: int) -> dict[str, float]:
    """ProducerPerformance over the same payloads, acks=all and idempotence like the replay."""
    topic = f"{run.settings.kafka.topics.raw_events}.perf"
    admin = kafka.admin(run.settings)
    admin.create_topics([NewTopic(topic, run.settings.kafka.partitions, 1)])
    admin.close()
    payload_file = run.folder / "payloads.txt"
    payload_file.write_bytes(b"\n".join(payloads))
    props = {"bootstrap.servers": run.settings.kafka.bootstrap_servers, "acks": "all",
             "enable.idempotence": "true", "linger.ms": PRODUCER_OPTIONS["linger.ms"],
             "batch.size": PRODUCER_OPTIONS["batch.size"]}
    try:
        out = subprocess.run(
            ["java", "-Xmx512m", "-cp", kafka_classpath(run), "org.apache.kafka.tools.ProducerPerformance",
             "--topic", topic, "--num-records", str(n_records), "--throughput", "-1",
             "--payload-file", str(payload_file), "--producer-props", *(f"{k}={v}" for k, v in props.items())],
            check=True, capture_output=True, text=True, timeout=600,
        ).stdout
    finally:
        admin = kafka.admin(run.settings)
        admin.delete_topics([topic])
        admin.close()
    sent, per_s, mb_s, latency = PERF_LINE.findall(out)[-1]
    return {"broker_records_per_s": float(per_s), "broker_mb_per_s": float(mb_s),
            "broker_avg_latency_ms": float(latency), "broker_records": int(sent)}


class FeatureWatcher(threading.Thread):
    """Follows the feature topic: freshness of every update and the events it accounts for."""

    def __init__(self, run: StreamRun):
        super().__init__(daemon=True)
        # A group of its own that never commits: only the reader's client needs one.
        self.reader = PartitionReader(run.settings.kafka.topics.user_features, f"bench-{run.run_id}",
                                      "earliest", run.settings)
        self.freshness_ms: list[int] = []
        self.events_by_listener: dict[int, int] = {}
        self.stop = threading.Event()

    @property
    def events(self) -> int:
        return sum(self.events_by_listener.values())

    def run(self) -> None:
        while not self.stop.is_set():
            records = self.reader.read(5000, 0.2)
            now = time.time_ns() // 1_000_000
            for record in records:
                doc = json.loads(record.value())
                self.freshness_ms.append(now - doc["last_event_time"])
                self.events_by_listener[doc["listener_id"]] = doc["events"]
        self.reader.close()


def wait_ready(run: StreamRun, job: subprocess.Popen, timeout_s: float = 600) -> None:
    """Until the query has fixed its starting offsets (`startingOffsets` latest): events sent
    before that would not be read."""
    deadline = time.monotonic() + timeout_s
    while not (run.folder / "checkpoints" / "stream" / "sources" / "0" / "0").is_file():
        if job.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the streaming job did not start: {run.log_tail()}")
        time.sleep(1)


def raw_log_copied(run: StreamRun, admin) -> int:
    """Records of the raw topic the job's raw log copy has written to MongoDB (its committed
    offsets: a copy commits only after writing). Counting the collection instead would load
    FerretDB, which counts by reading every document, and slow down the pipeline it measures."""
    group = RawLogCopy.group_id(run.settings)
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    return sum(o.offset for tp, o in offsets.items() if tp.topic == run.settings.kafka.topics.raw_events)


def wait_processed(run: StreamRun, job: subprocess.Popen, watcher: FeatureWatcher, raw_log: bool, total: int,
                   timeout_s: float = 600) -> None:
    """Until `total` events (the raw topic holds nothing else) are counted in the feature
    updates and copied to the raw log."""
    deadline = time.monotonic() + timeout_s
    admin = kafka.admin(run.settings)
    try:
        while watcher.events < total or (raw_log and raw_log_copied(run, admin) < total):
            if job.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the streaming job stopped or stalled: {run.log_tail()}")
            time.sleep(0.2)
    finally:
        admin.close()


# Where the machine's CPU goes, by process: the first marker found in a command line names it.
PROCESS_KINDS = (
    ("ferretdb", "mongodb (ferretdb + postgres)"),
    ("postgres", "mongodb (ferretdb + postgres)"),
    ("kafka.Kafka", "kafka broker"),
    ("SparkSubmit", "spark jvm"),
    ("pyspark.daemon", "spark python workers"),
    ("stream run", "job driver (python: query, copies)"),
    ("streaming_throughput", "producer and watcher (this script)"),
    ("mariadbd", "main db (mariadb)"),
)


def process_kind(command: str) -> str:
    return next((kind for marker, kind in PROCESS_KINDS if marker in command), "other")


def machine() -> str:
    return (f"{platform.machine()} {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"shared with other work, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=TARGET_EVENTS_PER_S, help="events per second sent")
    parser.add_argument("--seconds", type=float, default=60, help="how long to send")
    parser.add_argument("--listeners", type=int, default=5000)
    parser.add_argument("--tracks", type=int, default=2000)
    parser.add_argument("--no-mongo", action="store_true",
                        help="switch the MongoDB sinks off: the Kafka -> Spark -> Kafka path alone")
    args = parser.parse_args()
    mongo_off = {"HZ45_STREAMING__SINKS__RAW_LOG": "false", "HZ45_STREAMING__SINKS__FEATURES_MONGO": "false"}

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    run = StreamRun(ROOT / "data" / "benchmarks" / "streaming" / stamp, HZ45_STREAMING__TRACK_FEATURES="db",
                    HZ45_STREAMING__TRIGGER_INTERVAL="1 second", HZ45_STREAMING__STARTING_OFFSETS="latest",
                    HZ45_SPARK__SHUFFLE_PARTITIONS=SHUFFLE_PARTITIONS, **(mongo_off if args.no_mongo else {}))
    n_events = int(args.rate * args.seconds)
    warm = int(args.rate * WARMUP_S)
    dataset = catalog.load("dummy", n_users=args.listeners, n_tracks=args.tracks, n_events=warm + n_events,
                           seed=run.settings.data.seed)
    events = dataset_events(dataset, run.config.replay.session_gap_s)
    schema.init_db(get_engine(settings=run.settings))
    upsert.upsert(schema.tracks, load.db_frames(dataset)["tracks"], get_engine(settings=run.settings))
    kafka.ensure_topics(run.settings)
    try:
        sample = [r.value for r in records(events.head(10_000), "live")]
        ceiling = broker_ceiling(run, sample, n_events)
        print(json.dumps(ceiling), flush=True)

        job = run.start_job()
        wait_ready(run, job)
        watcher = FeatureWatcher(run)
        watcher.start()
        producer = EventProducer(run.settings, **PRODUCER_OPTIONS)
        topic = run.settings.kafka.topics.raw_events
        # Warm-up: the first micro-batches pay for Python workers, code generation and state stores.
        send(records(events.iloc[:warm], "live"), producer, topic, args.rate)
        wait_processed(run, job, watcher, not args.no_mongo, warm)
        watcher.freshness_ms.clear()
        load_before = os.getloadavg()[0]
        cpu_before = cpu_times(process_kind)
        started = time.monotonic()
        report = send(records(events.iloc[warm:], "live"), producer, topic, args.rate)
        producer.close()
        wait_processed(run, job, watcher, not args.no_mongo, warm + report.valid)
        elapsed = time.monotonic() - started
        cpu = cpu_spent(cpu_before, cpu_times(process_kind))
        watcher.stop.set()
        watcher.join()
        # Zero loss: what is in the log, counted once the clock has stopped.
        # FerretDB counts by reading every document, which takes longer than the client's socket
        # timeout on a log this size.
        with pymongo.timeout(900):
            logged = None if args.no_mongo else run.database()[run.config.events_collection].count_documents({})
        dead_letters = len(read_topic(run.settings, run.settings.kafka.topics.dead_letter))
    finally:
        run.close()

    fresh = np.array(watcher.freshness_ms) / 1000
    e2e = report.valid / elapsed
    figures = {
        "events": report.valid,
        "warmup_events": warm,
        "send_rate_target": args.rate,
        "send_seconds": round(report.seconds, 1),
        "producer_events_per_s": round(report.rate),
        "e2e_seconds": round(elapsed, 1),
        "e2e_events_per_s": round(e2e),
        "e2e_ratio_to_broker_ceiling": round(e2e / ceiling["broker_records_per_s"], 3),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in ceiling.items()},
        "raw_log_events": logged,
        "feature_events": watcher.events,
        "events_sent_with_warmup": warm + report.valid,
        "dead_letters": dead_letters,
        "lost_events": warm + report.valid - min(warm + report.valid if logged is None else logged, watcher.events),
        "mongo_sinks": not args.no_mongo,
        "feature_updates": len(fresh),
        "freshness_p50_s": round(float(np.percentile(fresh, 50)), 2) if len(fresh) else None,
        "freshness_p95_s": round(float(np.percentile(fresh, 95)), 2) if len(fresh) else None,
        "freshness_max_s": round(float(fresh.max()), 2) if len(fresh) else None,
        "cpu_cores_used": round(sum(cpu.values()) / elapsed, 2),
        "cpu_us_per_event": {kind: round(seconds / report.valid * 1e6) for kind, seconds in cpu.items() if seconds > 0.1},
        "meets_throughput_target": e2e >= TARGET_EVENTS_PER_S,
        "meets_freshness_target": bool(len(fresh)) and float(np.percentile(fresh, 95)) < TARGET_FRESHNESS_P95_S,
        "listeners": args.listeners,
        "tracks": args.tracks,
        "trigger": run.config.trigger_interval,
        "spark_master": run.settings.spark.master,
        "shuffle_partitions": run.settings.spark.shuffle_partitions,
        "warmup_s": WARMUP_S,
        "load_average_before": round(load_before, 2),
        "command": "python benchmarks/streaming_throughput.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
    }
    # The variants share the results file: Kafka-only and other rates under their own prefixes.
    prefix = ("kafka_only_" if args.no_mongo else "") + ("" if args.rate == TARGET_EVENTS_PER_S else f"rate{args.rate:g}_")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update({prefix + key: value for key, value in figures.items()})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
