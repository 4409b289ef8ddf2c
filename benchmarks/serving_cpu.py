"""Where a served request's CPU goes: CPU seconds of every process on the machine while the
no-op endpoint and `/recommendations` each take a closed-loop load, per request.

The same app, registry and no-op endpoint as `serving_load.py` (the real catalogue by default);
each endpoint is loaded twice, alternately, `--seconds` each, after a 3 s warm-up. Results:
benchmarks/results/serving_cpu_<catalogue>.json. CPU time is
read per process (psutil) before and after each load, so the proxy, the replicas, the log sink,
the broker, FerretDB and PostgreSQL are each counted.

    .venv/bin/python benchmarks/serving_cpu.py [--catalogue real] [--seconds 15]   # needs `hz45 services up`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving_load as sl  # noqa: E402
from cpu import cpu_spent, cpu_times  # noqa: E402
from loadgen import closed_loop, user_paths  # noqa: E402

RESULTS = sl.ROOT / "benchmarks" / "results"


def command_start(command: str) -> str:
    return command[:60]


def measure(url: str, paths, seconds: float) -> dict[str, object]:
    asyncio.run(closed_loop(url, paths, 16, 3))
    before = cpu_times(command_start)
    result = asyncio.run(closed_loop(url, paths, 16, seconds))
    spent = cpu_spent(before, cpu_times(command_start))
    summary = result.summary()
    per_request = {c: round(s / max(1, summary["requests"]) * 1000, 3) for c, s in spent.items() if s >= 0.1}
    return {**summary, "cpu_ms_per_request": per_request}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", choices=sorted(sl.CATALOGUES), default="real")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    import ray
    from ray import serve

    uri, users, _ = sl.prepare(args.catalogue)
    env = {
        "HZ45_MLFLOW__TRACKING_URI": uri,
        "HZ45_SERVING__MODEL_NAME": sl.MODEL,
        "HZ45_KAFKA__TOPICS__RECOMMENDATION_LOG": "hz45.bench.recommendations.log",
        "HZ45_SERVING__LOG_SINK__COLLECTION": "recommendation_log_bench",
        "HZ45_SERVING__LOG_SINK__GROUP_ID": "hz45-bench-log-sink",
    }
    os.environ.update(env)
    settings = sl.load_settings()
    sl.kafka_store.ensure_topics(settings)
    config = sl.serving_config(settings)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env}, log_to_driver=False, **sl.LOCAL_RAY)
    try:
        url = sl.start_local(settings)
        sl.start_noop(url, config, int(users[0]))
        paths = user_paths(users, 0.1, 10, seed=7)
        runs = []
        for name, target in [("noop", f"{url}/noop"), ("recommendations", url)] * 2:
            runs.append({"endpoint": name, **measure(target, paths, args.seconds)})
            print(json.dumps(runs[-1], indent=1), flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()
    results = {
        "catalogue": args.catalogue,
        "seconds_per_load": args.seconds,
        "runs": runs,
        "command": "python benchmarks/serving_cpu.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": sl.machine(),
    }
    out = RESULTS / f"serving_cpu_{args.catalogue}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
