"""Wall time and peak memory of the whole Spark feature job on generated data (1,000,000 tracks,
10,000,000 events; target: under 10 minutes), and its speed against plain pandas.

1. The full job (`features.jobs.build`: clean, items, users, charts, training; Parquet store and
   SQLite main DB) with the configured Spark settings.
2. The baseline: the item and user features in plain pandas (`features.reference`: clean,
   standardise, KMeans with k by silhouette on the same sample size, item and user features,
   written to Parquet), at the largest number of events pandas holds within the memory budget
   (the full size first, halved until it fits).
3. At that size, the Spark jobs that compute the same features (clean, items, users; no main DB).

Every part runs in its own process; its peak memory is the largest sum of the RSS of the process
and all its children (the Spark JVM and Python workers included), sampled every 0.2 s.

    .venv/bin/python benchmarks/feature_pipeline.py [--input DIR_WRITTEN_BY_write_dummy]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "feature_pipeline.json"
WORK = ROOT / "data" / "bench" / "feature_pipeline"
TARGET_WALL_S = 600
# The generated events span 2024-01-01 to 2024-12-30 (365 days of a leap year): the run date is
# their last day, so the trend windows and the hourly chart hold events.
RUN_DATE = date(2024, 12, 30)


def run_spark(input_dir: Path, out: Path, jobs: list[str] | None, sql: bool) -> dict:
    from hz45.settings import load_settings
    from features.jobs import build

    environ = dict(os.environ, HZ45_DATA__FEATURES_DIR=str(out / "store"),
                   HZ45_SQL__URL=f"sqlite:///{out / 'main.db'}", HZ45_FEATURES__SPARK__UI="false",
                   HZ45_FEATURES__SQL__ENABLED=str(sql).lower())
    return build(load_settings(profile="default", environ=environ), RUN_DATE, "dummy", jobs, input_dir)


def run_pandas(input_dir: Path, out: Path) -> dict:
    from datetime import timedelta

    from features import reference
    from features.config import features_config
    from features.source import TRACK_COLUMNS
    from features.tables import Z_COLUMNS
    from hz45.settings import get_settings

    settings = get_settings()
    cfg = features_config(settings)
    as_of = datetime.combine(RUN_DATE + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    raw_tracks = pd.read_parquet(input_dir / "tracks.parquet", columns=list(TRACK_COLUMNS))
    raw_events = pd.read_parquet(input_dir / "events.parquet")
    raw_events["event_type"] = raw_events["event_type"].astype(str)
    tracks = reference.clean_tracks(raw_tracks, as_of)
    events = reference.clean_events(raw_events, tracks["item_id"], as_of, cfg.ratings.min, cfg.ratings.max)
    del raw_events, raw_tracks
    z = reference.standardise(tracks)
    labels, k = reference.cluster(z, cfg.clusters.k_min, cfg.clusters.k_max, cfg.clusters.sample_size,
                                  settings.data.seed)
    tracks = pd.concat([tracks, z], axis=1).assign(cluster=labels)
    items = reference.item_features(tracks, events, as_of, cfg.trend_days)
    users, by_cluster, by_genre = reference.user_features(tracks, events, as_of, cfg.affinity_top_n)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("item_features", items), ("user_features", users), ("user_cluster_affinity", by_cluster),
                        ("user_genre_affinity", by_genre), ("tracks", tracks[["item_id", *Z_COLUMNS, "cluster"]])):
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return {"k": k, "clean_events": len(events), "users": len(users)}


class TreeMonitor:
    """The largest RSS sum of a process and its descendants, and their CPU time, sampled in a
    thread; kills the tree when it goes over `budget_mib`."""

    def __init__(self, pid: int, budget_mib: float | None = None):
        self.process, self.budget, self.peak, self.over = psutil.Process(pid), budget_mib, 0.0, False
        self.cpu: dict[int, float] = {}  # pid -> its last seen user + system seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree) / 2**20
                for p in tree:
                    times = p.cpu_times()
                    self.cpu[p.pid] = times.user + times.system
            except psutil.Error:
                continue
            self.peak = max(self.peak, rss)
            if self.budget and rss > self.budget:
                self.over = True
                for p in reversed(tree):
                    p.kill()

    def stop(self) -> tuple[float, float]:
        """(peak RSS MiB, CPU seconds)."""
        self._stop.set()
        self._thread.join()
        return round(self.peak), round(sum(self.cpu.values()), 1)


def measure(part: list[str], budget_mib: float | None = None) -> dict:
    """Run this script for one part in a child process: wall time, peak RSS, the part's result."""
    result_file = WORK / "part.json"
    result_file.unlink(missing_ok=True)
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--part", *part, "--result", str(result_file)], cwd=ROOT)
    monitor = TreeMonitor(child.pid, budget_mib)
    code = child.wait()
    wall = time.perf_counter() - start
    peak_mib, cpu_s = monitor.stop()
    ok = code == 0 and not monitor.over
    return {"ok": ok, "wall_s": round(wall, 1), "cpu_s": cpu_s, "peak_rss_mib": peak_mib,
            "result": json.loads(result_file.read_text()) if ok else None}


def dataset(args: argparse.Namespace) -> Path:
    if args.input:
        return args.input
    from hz45.catalog import write_dummy

    folder = WORK / f"dummy-{args.tracks}-{args.events}-{args.users}"
    meta = folder / "meta.json"
    if not meta.exists() or json.loads(meta.read_text())["events"] != args.events:
        shutil.rmtree(folder, ignore_errors=True)
        write_dummy(folder, args.users, args.tracks, args.events, seed=42)
    return folder


def prefix(input_dir: Path, events: int) -> Path:
    """A folder with the same tracks and the first `events` events (the dummy's are in time order)."""
    total = pq.ParquetFile(input_dir / "events.parquet").metadata.num_rows
    if events >= total:
        return input_dir
    folder = WORK / f"prefix-{events}"
    folder.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(input_dir / "events.parquet").slice(0, events)
    pq.write_table(table, folder / "events.parquet")
    shutil.copy(input_dir / "tracks.parquet", folder / "tracks.parquet")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--input", type=Path, help="a folder written by hz45.catalog.write_dummy")
    parser.add_argument("--pandas-budget-mib", type=float, default=10_240,
                        help="memory pandas may use on this shared machine before it counts as not fitting")
    parser.add_argument("--part", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        kind, folder, out = args.part[0], Path(args.part[1]), Path(args.part[2])
        shutil.rmtree(out, ignore_errors=True)
        if kind == "pandas":
            result = run_pandas(folder, out)
        else:
            result = run_spark(folder, out, None if kind == "spark-full" else ["clean", "items", "users"],
                               sql=kind == "spark-full")
        args.result.write_text(json.dumps(result, default=str))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    input_dir = dataset(args)
    events = pq.ParquetFile(input_dir / "events.parquet").metadata.num_rows
    tracks = pq.ParquetFile(input_dir / "tracks.parquet").metadata.num_rows
    load_before = os.getloadavg()[0]
    full = measure(["spark-full", str(input_dir), str(WORK / "spark-full")])
    if not full["ok"]:
        raise SystemExit("the full Spark job failed")

    size = events
    while True:
        baseline_input = prefix(input_dir, size)
        pandas_run = measure(["pandas", str(baseline_input), str(WORK / "pandas")], args.pandas_budget_mib)
        if pandas_run["ok"] or size < 100_000:
            break
        size //= 2
    if not pandas_run["ok"]:
        raise SystemExit("pandas did not fit even 100,000 events in the memory budget")
    same = measure(["spark-features", str(baseline_input), str(WORK / "spark-features")])
    report = full["result"]
    figures = {
        "tracks": tracks,
        "events": events,
        "spark_full_job_wall_s": full["wall_s"],
        "spark_full_job_cpu_s": full["cpu_s"],
        "spark_full_job_peak_rss_mib": full["peak_rss_mib"],
        "spark_full_job_meets_target": full["wall_s"] < TARGET_WALL_S,
        "target_wall_s": TARGET_WALL_S,
        **{f"spark_full_{job}_s": s for job, s in report["seconds"].items()},
        "clean_events": report["rows"]["clean_events"],
        "users": report["rows"]["user_features"],
        "clusters_k": report["k"],
        "pandas_max_events_in_budget": size,
        "pandas_budget_mib": args.pandas_budget_mib,
        "pandas_item_user_features_wall_s": pandas_run["wall_s"],
        "pandas_item_user_features_cpu_s": pandas_run["cpu_s"],
        "pandas_item_user_features_peak_rss_mib": pandas_run["peak_rss_mib"],
        "spark_item_user_features_wall_s": same["wall_s"],
        "spark_item_user_features_cpu_s": same["cpu_s"],
        "spark_item_user_features_peak_rss_mib": same["peak_rss_mib"],
        "speedup_spark_vs_pandas_item_user_features": round(pandas_run["wall_s"] / same["wall_s"], 2),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "command": "python benchmarks/feature_pipeline.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {psutil.cpu_count()} cores, "
                   f"{psutil.virtual_memory().total / 2**30:.0f} GiB, shared with other work, Python "
                   f"{platform.python_version()}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
