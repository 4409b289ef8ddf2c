"""Load on the serving app's `/recommendations` against a no-op Ray Serve endpoint with the same
deployment settings, measured in the same run, for the real catalogue and for 1,000,000 dummy
tracks. Targets: zero errors; throughput and p50 within 20% of the no-op's; p99 under 50 ms at
100 requests/s.

For each catalogue a fresh local Ray (2 CPUs) runs both apps side by side; each endpoint gets a
closed loop (fixed concurrency, the throughput it sustains) and an open loop at 100 requests/s
(latency at the target rate), `--duration` seconds each, taken in alternating 10 s slices so the
machine's other load weighs on both endpoints alike. Listeners are drawn from the model's
training users, with a share of never-seen ones (cold start). The per-listener cache is on, as
deployed; its hit rate is reported beside the figures.

    .venv/bin/python benchmarks/serving_load.py            # needs `hz45 services up`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from fastapi import FastAPI, Query
from kafka import TopicPartition
from ray import serve

# The load generator sits beside this script; the registry helper is the serving tests' own.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loadgen import Result, closed_loop, open_loop, user_paths  # noqa: E402
from serving_model import promote, register  # noqa: E402

from hz45.catalog import load  # noqa: E402
from hz45.settings import ROOT, load_settings  # noqa: E402
from hz45.stores import kafka as kafka_store  # noqa: E402
from serving.api import RecommendationsResponse  # noqa: E402
from serving.app import LOCAL_RAY, deployment_options, start_local  # noqa: E402
from serving.config import serving_config  # noqa: E402
from serving.registry import NoChampion, Registry  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "serving_load.json"
TARGET_RATIO, TARGET_P99_MS, OPEN_RATE = 0.8, 50.0, 100.0
MODEL = "hz45-hybrid-bench"
# label -> (catalog dataset, loader options): the real music catalogue and 1,000,000 dummy tracks.
REGISTRY = ROOT / "data" / "bench" / "serving_load"
CATALOGUES = {
    "real": ("lastfm-spotify", {}),
    "dummy1m": ("dummy", {"n_users": 20_000, "n_tracks": 1_000_000, "n_events": 2_000_000}),
}

noop_api = FastAPI()


@serve.deployment
@serve.ingress(noop_api)
class NoOp:
    """The framework alone: same ingress, route, parameter checks and response model, answering
    with a list the app served once (so it encodes the same bytes), and no model, cache or log."""

    def __init__(self, body: dict[str, Any]):
        self.body = body

    @noop_api.get("/recommendations/{user_id}", response_model=RecommendationsResponse)
    async def recommendations(self, user_id: int, n: int = Query(10, ge=1, le=100)) -> Any:
        return {**self.body, "user_id": user_id, "items": self.body["items"][:n]}


def start_noop(app_url: str, config, user_id: int) -> None:
    """The no-op endpoint at /noop beside the app, answering with the list the app serves
    `user_id` (once the app is ready)."""
    wait_ready(app_url)
    body = httpx.get(f"{app_url}/recommendations/{user_id}?n=10", timeout=30).json()
    serve.run(NoOp.options(**deployment_options(config)).bind(body), name="noop", route_prefix="/noop")


def wait_ready(url: str, timeout_s: float = 300) -> dict[str, Any]:
    """The app's health once it answers promptly with a model loaded and the feature topic
    replayed; after an overload this is also how the backlog of abandoned requests drains."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/healthz", timeout=5).json()
            if health["status"] == "ok" and health["features"]["replayed"]:
                return health
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the app at {url} did not become ready")


def wait_log_written(settings, timeout_s: float = 120) -> None:
    """Until the recommendation log sink has written (and committed) everything on the log topic:
    the lists of a closed-loop slice take MongoDB seconds of CPU to store, which would otherwise
    fall on the open-loop slice after it."""
    topic, group = settings.kafka.topics.recommendation_log, serving_config(settings).log_sink.group_id
    admin, consumer = kafka_store.admin(settings), kafka_store.consumer(settings=settings)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            end = consumer.end_offsets(partitions)
            done = admin.list_group_offsets({group: None}).get(group, {})
            if all(done.get(tp) is not None and done[tp].offset >= n for tp, n in end.items() if n):
                return
            time.sleep(0.5)
        raise SystemExit(f"the recommendation log sink did not catch up with {topic} in {timeout_s:.0f}s")
    finally:
        admin.close()
        consumer.close()


def measure(app_url: str, targets: dict[str, str], paths, args, settings) -> dict[str, Any]:
    """Each endpoint in each mode for `duration` seconds, taken in alternating slices so that a
    change in the machine's other load falls on both endpoints alike. Between slices the app's
    backlog drains, requests and log writes alike, so a slice does not spill into the next one."""
    loops = {
        "closed": lambda url: closed_loop(url, paths, args.concurrency, args.slice),
        "open": lambda url: open_loop(url, paths, OPEN_RATE, args.slice, max_in_flight=args.max_in_flight),
    }
    for url in targets.values():
        asyncio.run(closed_loop(url, paths, args.concurrency, args.warmup))
    totals = {(name, mode): Result(0.0) for name in targets for mode in loops}
    for _ in range(max(1, round(args.duration / args.slice))):
        for mode, loop in loops.items():
            for name, url in targets.items():
                wait_ready(app_url)
                wait_log_written(settings)
                totals[name, mode].add(asyncio.run(loop(url)))
    return {name: {mode: totals[name, mode].summary() for mode in loops} for name in targets}


def run_catalogue(label: str, tracking_uri: str, model: str, users: np.ndarray, args) -> dict[str, Any]:
    """Both endpoints on one fresh local Ray, measured one after the other."""
    import ray

    # The product's log path runs as deployed, but into a topic and collection of its own, so the
    # benchmark's lists never mix with real listeners' in the recommendation log.
    env = {
        "HZ45_MLFLOW__TRACKING_URI": tracking_uri,
        "HZ45_SERVING__MODEL_NAME": model,
        "HZ45_KAFKA__TOPICS__RECOMMENDATION_LOG": "hz45.bench.recommendations.log",
        "HZ45_SERVING__LOG_SINK__COLLECTION": "recommendation_log_bench",
        "HZ45_SERVING__LOG_SINK__GROUP_ID": "hz45-bench-log-sink",
    }
    os.environ.update(env)
    settings = load_settings()
    kafka_store.ensure_topics(settings)
    config = serving_config(settings)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, log_to_driver=False, **LOCAL_RAY)
    try:
        url = start_local(settings)
        start_noop(url, config, int(users[0]))
        paths = user_paths(users, args.unknown_share, 10, seed=7)
        out = measure(url, {"noop": f"{url}/noop", "recommendations": url}, paths, args, settings)
        health = wait_ready(url)
        out["cache_hit_rate"] = round(
            health["cache"]["hits"] / max(1, health["cache"]["hits"] + health["cache"]["misses"]), 3
        )
        out["model_version"] = health["model"]["version"]
    finally:
        serve.shutdown()
        ray.shutdown()
    return {f"{label}_{k}": v for k, v in flatten(out).items()}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def verdict(results: dict[str, Any], label: str) -> dict[str, Any]:
    r = lambda key: results[f"{label}_{key}"]  # noqa: E731
    rps_ratio = r("recommendations_closed_rps") / r("noop_closed_rps")
    # p50 "within 20%": the model's p50 at most 1.25x the no-op's (the no-op's is at least 80% of it).
    p50_ratio = r("noop_closed_p50_ms") / r("recommendations_closed_p50_ms")
    return {
        f"{label}_rps_ratio_to_noop": round(rps_ratio, 3),
        f"{label}_p50_ratio_noop_to_model": round(p50_ratio, 3),
        f"{label}_meets_targets": bool(
            r("recommendations_closed_errors") + r("recommendations_open_errors") == 0
            and rps_ratio >= TARGET_RATIO
            and p50_ratio >= TARGET_RATIO
            and r("recommendations_open_p99_ms") < TARGET_P99_MS
        ),
    }


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    python = platform.python_version()
    return f"{platform.machine()} {os.cpu_count()} cores, {mem:.0f} GiB, shared with other work, Python {python}"


def prepare(name: str) -> tuple[str, np.ndarray, int]:
    """Fit the hybrid on a catalogue of CATALOGUES and register it as champion, or reuse the one
    an earlier run registered; returns (tracking URI, the training listeners, catalogue size)."""
    dataset_name, options = CATALOGUES[name]
    dataset = load(dataset_name, **options)
    folder = REGISTRY / name
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder}/mlflow.db"
    try:
        Registry(uri, MODEL, "champion").resolve()
    except NoChampion:
        started = time.perf_counter()
        promote(uri, MODEL, register(dataset, uri, MODEL, folder))
        print(f"{name}: hybrid fitted and registered in {time.perf_counter() - started:.0f}s", flush=True)
    return uri, np.sort(dataset.interactions["user_id"].unique()), len(dataset.items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per endpoint and mode")
    parser.add_argument("--slice", type=float, default=10.0, help="seconds per turn of one endpoint")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the closed loop")
    parser.add_argument("--max-in-flight", type=int, default=64, help="open loop: requests beyond are errors")
    parser.add_argument("--unknown-share", type=float, default=0.1, help="share of never-seen listeners")
    parser.add_argument("--catalogue", choices=sorted(CATALOGUES), action="append", help="default: all")
    args = parser.parse_args()

    # A run of some catalogues keeps the others' figures from an earlier run, each with its date.
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for label in args.catalogue or sorted(CATALOGUES):
        uri, users, tracks = prepare(label)
        results[f"{label}_load_average_before"] = round(os.getloadavg()[0], 2)
        results[f"{label}_tracks"] = tracks
        results.update(run_catalogue(label, uri, MODEL, users, args))
        results.update(verdict(results, label))
        results[f"{label}_load_average_after"] = round(os.getloadavg()[0], 2)
        results[f"{label}_date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print(json.dumps({k: v for k, v in results.items() if k.startswith(label)}, indent=1), flush=True)
    results.update(
        {
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "open_loop_rate": OPEN_RATE,
            "open_loop_max_in_flight": args.max_in_flight,
            "unknown_listener_share": args.unknown_share,
            "command": "python benchmarks/serving_load.py " + " ".join(sys.argv[1:]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
        }
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
