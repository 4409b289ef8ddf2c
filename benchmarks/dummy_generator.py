"""Time and peak memory of the dummy generator at full scale: 1,000,000 tracks and 10,000,000 events
written to Parquet (targets: under 3 minutes and 4 GiB).

Baseline, measured in the same run: a writer of the same size and schema with uniform random
values (no latent model), i.e. the cost of producing and writing the bytes alone. Each side runs
in its own process (the same imports), so its peak RSS (from wait4) is its own.

    .venv/bin/python benchmarks/dummy_generator.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hz45.catalog import dummy, write_dummy
from hz45.catalog.base import AUDIO_FEATURES
from training_results import write_results  # benchmarks/ is the script's folder, so on sys.path

ROOT = Path(__file__).resolve().parents[1]
TARGET_WALL_S, TARGET_RSS_MIB = 180, 4096


def write_uniform(out: Path, n_users: int, n_tracks: int, n_events: int, seed: int) -> None:
    """The baseline: same tables' sizes and schema, every value uniform at random."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tracks = pd.DataFrame({"item_id": np.arange(1, n_tracks + 1, dtype=np.int64),
                           **{f: rng.random(n_tracks) for f in AUDIO_FEATURES}})
    pq.write_table(pa.Table.from_pandas(tracks, preserve_index=False), out / "tracks.parquet")
    names = pa.array(list(dummy.EVENT_NAMES), pa.string())
    span = dummy.DAYS * 86_400_000 // -(-n_events // dummy.CHUNK_EVENTS)
    with pq.ParquetWriter(out / "events.parquet", dummy.EVENT_SCHEMA) as writer:
        for index, begin in enumerate(range(0, n_events, dummy.CHUNK_EVENTS)):
            n = min(dummy.CHUNK_EVENTS, n_events - begin)
            millis = index * span + np.sort(rng.integers(0, span, n))
            writer.write_table(pa.Table.from_arrays(
                [pa.array(rng.integers(1, n_users + 1, n)), pa.array(rng.integers(1, n_tracks + 1, n)),
                 pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 4, n).astype(np.int8)), names),
                 pa.array(np.ones(n)),
                 pa.array(dummy.START.value + millis * 1_000_000, pa.timestamp("ns", tz="UTC"))],
                schema=dummy.EVENT_SCHEMA))


def measure(command: list[str]) -> dict[str, float]:
    """Wall time and peak RSS of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command[:3]} failed with exit code {child.returncode}")
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 0)}


def folder_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "dummy")
    parser.add_argument("--only", choices=["latent", "uniform"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "latent":
        write_dummy(args.out, args.users, args.tracks, args.events, args.seed, progress=False)
        return
    if args.only == "uniform":
        write_uniform(args.out, args.users, args.tracks, args.events, args.seed)
        return

    sizes = ["--tracks", str(args.tracks), "--events", str(args.events), "--users", str(args.users)]
    generated, uniform = args.out / "latent", args.out / "uniform"
    shutil.rmtree(args.out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    this = [sys.executable, __file__, *sizes, "--seed", str(args.seed)]
    gen = measure([*this, "--out", str(generated), "--only", "latent"])
    base = measure([*this, "--out", str(uniform), "--only", "uniform"])
    meta = json.loads((generated / "meta.json").read_text())
    figures = {
        "dummy_tracks": meta["tracks"],
        "dummy_events": meta["events"],
        "dummy_users": meta["users"],
        "dummy_artists": meta["artists"],
        "generator_wall_s": gen["wall_s"],
        "generator_cpu_s": gen["cpu_s"],
        "generator_peak_rss_mib": gen["peak_rss_mib"],
        "generator_events_per_s": round(meta["events"] / gen["wall_s"]),
        "generator_output_mib": folder_mib(generated),
        "baseline_uniform_wall_s": base["wall_s"],
        "baseline_uniform_cpu_s": base["cpu_s"],
        "baseline_uniform_peak_rss_mib": base["peak_rss_mib"],
        "generator_time_ratio_to_baseline": round(gen["wall_s"] / base["wall_s"], 2),
        "generator_cpu_ratio_to_baseline": round(gen["cpu_s"] / base["cpu_s"], 2),
        "generator_meets_targets": gen["wall_s"] < TARGET_WALL_S and gen["peak_rss_mib"] < TARGET_RSS_MIB,
        "target_wall_s": TARGET_WALL_S,
        "target_peak_rss_mib": TARGET_RSS_MIB,
        "load_average_before": round(load_before, 2),
    }
    shutil.rmtree(uniform)
    write_results("dummy_generator", figures)


if __name__ == "__main__":
    main()
