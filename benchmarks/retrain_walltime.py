"""Wall time of one full hz45_retrain run, by task, on MovieLens-100K and on the music dataset.

For each dataset, in a fresh folder under benchmarks/out/retrain_walltime/<dataset>/ (SQLite main
DB, feature store, MLflow store, Airflow metadata DB): hz45_features runs once for the dataset's
last full day (the retrain's training set is built from that day's clean events), then
hz45_retrain runs once with `dag.test()`: local Spark through the Spark provider, local Ray,
the search spaces of configs/search_spaces. Both runs are timed by task.

`dag.test()` runs one task at a time, so the two sweeps run one after the other here; under the
scheduler they overlap (on this two-core machine they share the same cores). The baseline in the
same run is the sum of the task times: `overhead_ratio` is the run's wall time over it, what
Airflow itself adds (scheduling loop, task start-up, XCom).

    .venv/bin/python benchmarks/retrain_walltime.py [--datasets ml-100k lastfm-spotify]
        [--svd-trials 6] [--ncf-trials 2] [--users N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from training_results import write_results

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out" / "retrain_walltime"
sys.path.insert(0, str(ROOT / "tests"))  # the child-process runner the DAG tests use
from airflow_harness import airflow_env, call, migrate  # noqa: E402

# The logical dates of the two runs: the hourly run over the last hour of the dataset's last full
# day, then the daily run over that day.
RUNS = {
    "ml-100k": ("1998-04-23T00:00:00+00:00", "1998-04-23T03:00:00+00:00"),
    "lastfm-spotify": ("2025-03-02T00:00:00+00:00", "2025-03-02T03:00:00+00:00"),
}


def environment(out: Path, dataset: str, args) -> dict[str, str]:
    return {
        **airflow_env(out / "airflow"),
        "HZ45_SQL__URL": f"sqlite:///{out / 'main.db'}",
        "HZ45_DATA__FEATURES_DIR": str(out / "store"),
        "HZ45_FEATURES__SPARK__UI": "false",
        "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{out / 'mlflow.db'}",
        "HZ45_MLFLOW__ARTIFACT_ROOT": str(out / "artifacts"),
        "HZ45_PROMOTION__HOLDOUT__DIR": str(out / "holdout"),
        "HZ45_TUNING__STORAGE_DIR": str(out / "tune"),
        "HZ45_TUNING__VERBOSE": "0",
        "HZ45_AIRFLOW__DATASET": dataset,
        "HZ45_AIRFLOW__RETRIES": "0",
        "HZ45_AIRFLOW__RETRAIN__SVD_TRIALS": str(args.svd_trials),
        "HZ45_AIRFLOW__RETRAIN__NCF_TRIALS": str(args.ncf_trials),
        **({"HZ45_AIRFLOW__RETRAIN__USERS": str(args.users)} if args.users else {}),
        # Nothing listens here, so the reload step finds no serving app and passes at once.
        "HZ45_SERVING__PORT": "9",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def timed_run(env: dict[str, str], dag_id: str, logical_date: str) -> tuple[dict, float]:
    started = time.perf_counter()
    run, _ = call(env, "run", dag_id, logical_date, timeout=6 * 3600)
    wall = time.perf_counter() - started
    if run["state"] != "success":
        failed = {t: ti["state"] for t, ti in run["tasks"].items() if ti["state"] not in ("success", "skipped")}
        raise SystemExit(f"{dag_id} on {env['HZ45_AIRFLOW__DATASET']} ended {run['state']}: {failed}")
    return run, wall


def figures(prefix: str, run: dict, wall: float) -> dict:
    tasks = {t: ti["seconds"] or 0.0 for t, ti in run["tasks"].items() if ti["state"] == "success"}
    total = sum(tasks.values())
    out = {f"{prefix}_wall_s": round(wall, 1), f"{prefix}_tasks_s": round(total, 1),
           f"{prefix}_overhead_ratio": round(wall / total, 3)}
    out.update({f"{prefix}_task_{t}_s": round(s, 1) for t, s in sorted(tasks.items(), key=lambda kv: -kv[1])})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--svd-trials", type=int, default=6)
    parser.add_argument("--ncf-trials", type=int, default=2)
    parser.add_argument("--users", type=int, default=None, help="sweep on a sample of listeners")
    args = parser.parse_args()
    results: dict = {"svd_trials": args.svd_trials, "ncf_trials": args.ncf_trials, "users": args.users or "all"}
    for dataset in args.datasets:
        out = OUT / dataset
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        env = environment(out, dataset, args)
        migrate(env)
        features_at, retrain_at = RUNS[dataset]
        key = dataset.replace("-", "_")
        print(f"{dataset}: hz45_features at {features_at}", flush=True)
        results.update(figures(f"{key}_features", *timed_run(env, "hz45_features", features_at)))
        print(f"{dataset}: hz45_retrain at {retrain_at}", flush=True)
        retrain, wall = timed_run(env, "hz45_retrain", retrain_at)
        results.update(figures(f"{key}_retrain", retrain, wall))
        results[f"{key}_listeners"] = retrain["tasks"]["precompute_recommendations"]["value"]["listeners"]
        results[f"{key}_promoted"] = retrain["tasks"]["evaluate"]["value"]["promoted"]
    write_results("retrain_walltime", results)


if __name__ == "__main__":
    main()
