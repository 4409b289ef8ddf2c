"""What the MongoDB-compatible server charges for the streaming job's writes, in CPU seconds of
the server's own processes (FerretDB and its PostgreSQL), beside the wall time.

Three operations on a scratch database: inserting raw-log documents (what the raw log copy does),
replacing 5,000 listener feature documents with one delete and one insert (what the feature copy
does per interval), and counting a growing raw log (what a reader that polls the count costs).
Baseline for the replace: inserting the same 5,000 documents into an empty collection.

    .venv/bin/python benchmarks/mongo_costs.py            # needs `hz45 services up`
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from cpu import cpu_spent, cpu_times
from hz45.settings import get_settings
from hz45.stores import mongo
from streaming.schema import Event
from streaming.sinks import event_document, replace_documents

RESULTS = Path(__file__).resolve().parent / "results" / "mongo_costs.json"
SERVER_MARKERS = ("ferretdb", "postgres")
LISTENERS = 5000
CHUNK = 5000
LOG_STEPS = 5
STEP = 20_000


def server_kind(command: str) -> str | None:
    return "server" if any(m in command for m in SERVER_MARKERS) else None


def measured(action) -> tuple[float, float]:
    """(server CPU seconds, wall seconds) of `action()`."""
    before, wall = cpu_times(server_kind), time.perf_counter()
    action()
    return sum(cpu_spent(before, cpu_times(server_kind)).values()), time.perf_counter() - wall


def events(start: int, n: int) -> list[dict]:
    return [event_document(Event(schema_version=1, event_id=f"e-{start + i}", listener_id=i % LISTENERS,
                                 track_id=i % 2000, type="play", timestamp=1_796_300_000_000 + start + i,
                                 ms_played=180_000, session_id=f"s-{i % LISTENERS}", client="bench").model_dump())
            for i in range(n)]


def feature_documents() -> list[dict]:
    doc = {"schema_version": 1, "updated_at": 0, "last_event_time": 0, "last_event_id": "e-1", "session_id": "s-1",
           "events": 42, "plays": 30, "skips": 9, "likes": 2, "dislikes": 1, "skip_rate": 0.23,
           "recent_tracks": list(range(20)), "plays_per_hour": [{"hour_start": 0, "plays": 12}] * 24,
           "audio_profile": {f"feature_{i}": 0.5 for i in range(13)}, "profile_plays": 20}
    return [{**doc, "_id": i, "listener_id": i} for i in range(LISTENERS)]


def main() -> None:
    database = mongo.get_client(get_settings())["hz45_bench_mongo_costs"]
    database.client.drop_database(database.name)
    results: dict = {}
    try:
        log = database["events"]
        counts = []
        for step in range(LOG_STEPS):
            docs = events(step * STEP, STEP)
            cpu, wall = measured(lambda: [mongo.insert_new(log, docs[i : i + CHUNK]) for i in range(0, STEP, CHUNK)])
            count_cpu, count_wall = measured(log.estimated_document_count)
            counts.append({"documents": (step + 1) * STEP, "insert_cpu_us_per_doc": round(cpu / STEP * 1e6),
                           "insert_docs_per_s": round(STEP / wall), "count_cpu_s": round(count_cpu, 2),
                           "count_wall_s": round(count_wall, 2)})
        results["raw_log"] = counts

        features = database["features"]
        docs = feature_documents()
        cpu, wall = measured(lambda: features.insert_many(docs))
        results["features_insert_into_empty"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
        replaces = [measured(lambda: replace_documents(features, feature_documents())) for _ in range(3)]
        results["features_replace_all"] = {"cpu_s": round(min(c for c, _ in replaces), 2),
                                           "wall_s": round(min(w for _, w in replaces), 2)}
        results["features_replace_ratio_to_insert"] = round(
            results["features_replace_all"]["cpu_s"] / max(results["features_insert_into_empty"]["cpu_s"], 1e-9), 1)
    finally:
        database.client.drop_database(database.name)
    results.update({"listeners": LISTENERS, "command": "python benchmarks/mongo_costs.py",
                    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
