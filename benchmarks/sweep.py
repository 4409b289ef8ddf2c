"""A full sweep on MovieLens-100K with Ray Tune + MLflow: SVD (Optuna) and NeuMF (Optuna + ASHA).

Measures each sweep's wall time and trials per hour, re-evaluates each sweep's best configuration
on the models issue's protocols (SVD: 5-fold CV RMSE, target <= 0.905; NeuMF: 75/25 stratified
nDCG@10, target >= 0.40), and the speed-up of 2 concurrent trials over 1: the same fixed SVD
configurations run once at concurrency 1 and once at 2, in this run.

Everything goes to its own MLflow store and Ray results under benchmarks/out/sweep/.

    .venv/bin/python benchmarks/sweep.py [--svd-trials 20] [--ncf-trials 8] [--speedup-trials 6]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from training_results import write_results

OUT = Path(__file__).resolve().parent / "out" / "sweep"
TARGET_RMSE = 0.905
TARGET_NDCG = 0.40
# Fixed SVD configurations for the concurrency comparison: the same work at 1 and at 2 trials at once.
# Many epochs make each trial seconds of computation, so the comparison measures trials, not
# Ray Tune's per-trial bookkeeping.
SPEEDUP_EPOCHS = (150, 200, 250, 300, 200, 250, 150, 300)
SPEEDUP_SPACE = {"n_epochs": {"type": "int", "low": 100, "high": 300}}
SPEEDUP_FIXED = {"seed": 42, "n_factors": 200, "lr_all": 0.005, "reg_all": 0.05, "biased": True}


def settings_for(out: Path):
    from hz45.settings import load_settings

    env = {
        "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{out}/mlflow.db",
        "HZ45_MLFLOW__ARTIFACT_ROOT": str(out / "artifacts"),
        "HZ45_PROMOTION__HOLDOUT__DIR": str(out / "holdout"),
        "HZ45_TUNING__STORAGE_DIR": str(out / "tune"),
    }
    return load_settings(environ={**os.environ, **env})


def best_kwargs(settings, run_id: str) -> dict:
    """The best trial's keyword arguments, read back from its params.json artifact."""
    from experiments.tracking import client_for

    with tempfile.TemporaryDirectory() as tmp:
        path = client_for(settings).download_artifacts(run_id, "params.json", tmp)
        return json.loads(Path(path).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svd-trials", type=int, default=20)
    parser.add_argument("--ncf-trials", type=int, default=8)
    parser.add_argument("--speedup-trials", type=int, default=6)
    parser.add_argument("--users", type=int, default=None, help="a sample of listeners, for a quick check only")
    args = parser.parse_args()

    from experiments.data import DataRef
    from experiments.sweeps import load_named_space, ray_session, run_sweep
    from training import evaluate_ranking, evaluate_rating_cv, limit_threads
    from training.models import make_model

    OUT.mkdir(parents=True, exist_ok=True)
    settings = settings_for(OUT)
    data = DataRef("ml-100k", args.users)
    figures: dict = {"load_average_before": round(os.getloadavg()[0], 2)}
    with ray_session(settings):
        for model, trials in (("svd", args.svd_trials), ("ncf", args.ncf_trials)):
            result = run_sweep(model, data, trials, settings=settings)
            figures["dataset"] = data.label
            figures[f"{model}_trials"] = trials
            figures[f"{model}_trials_finished"] = result.finished
            figures[f"{model}_trials_stopped_early"] = result.stopped_early
            figures[f"{model}_trials_failed"] = result.failed
            figures[f"{model}_wall_s"] = round(result.wall_seconds, 1)
            figures[f"{model}_trials_per_hour"] = round(trials / result.wall_seconds * 3600, 1)
            figures[f"{model}_best_valid_{result.metric}"] = round(result.best_value, 4)
            figures[f"{model}_best_run_id"] = result.best_run_id
            figures[f"{model}_sweep_run_id"] = result.parent_run_id
            figures[f"{model}_best_params"] = best_kwargs(settings, result.best_run_id)

        # The same SVD configurations at concurrency 1, then 2.
        space = load_named_space("svd", settings).replace(fixed=SPEEDUP_FIXED, params=SPEEDUP_SPACE)
        points = [{"n_epochs": epochs} for epochs in SPEEDUP_EPOCHS[: args.speedup_trials]]
        for concurrency in (1, 2):
            result = run_sweep("svd", data, len(points), space=space, points=points, max_concurrent=concurrency,
                               settings=settings)  # fmt: skip
            figures[f"speedup_wall_s_concurrency_{concurrency}"] = round(result.wall_seconds, 1)
            figures[f"speedup_trial_s_mean_concurrency_{concurrency}"] = round(
                sum(result.trial_seconds) / max(1, len(result.trial_seconds)), 1
            )
        figures["speedup_trials"] = len(points)
        figures["speedup_2_over_1"] = round(
            figures["speedup_wall_s_concurrency_1"] / figures["speedup_wall_s_concurrency_2"], 2
        )

    # The best configurations on the published protocols (one process, one thread: as issue 4's scripts).
    limit_threads(1)
    ml100k = data.dataset(seed=42)
    start = time.perf_counter()
    cv = evaluate_rating_cv(make_model("svd", **figures["svd_best_params"]), ml100k, folds=5, seed=42)
    figures["svd_best_rmse_5fold"] = round(float(cv[cv["fold"] == "mean"]["rmse"].iloc[0]), 4)
    figures["svd_best_mae_5fold"] = round(float(cv[cv["fold"] == "mean"]["mae"].iloc[0]), 4)
    figures["svd_best_cv_wall_s"] = round(time.perf_counter() - start, 1)
    figures["target_rmse_5fold"] = TARGET_RMSE
    figures["svd_meets_target_rmse"] = figures["svd_best_rmse_5fold"] <= TARGET_RMSE

    # On the 75/25 protocol NeuMF early-stops on its own split of the training part, then refits.
    ncf_params = {**figures["ncf_best_params"], "refit": True}
    start = time.perf_counter()
    ranking = evaluate_ranking(make_model("ncf", **ncf_params), ml100k, k=10, seed=42)
    figures["ncf_best_ndcg_at_10_75_25"] = round(float(ranking["ndcg@10"].iloc[0]), 4)
    figures["ncf_best_map_75_25"] = round(float(ranking["map"].iloc[0]), 4)
    figures["ncf_best_ranking_wall_s"] = round(time.perf_counter() - start, 1)
    figures["target_ndcg_at_10"] = TARGET_NDCG
    figures["ncf_meets_target_ndcg"] = figures["ncf_best_ndcg_at_10_75_25"] >= TARGET_NDCG
    for model in ("svd", "ncf"):
        figures[f"{model}_best_params"] = ", ".join(f"{k}={v}" for k, v in figures[f"{model}_best_params"].items())
    write_results("sweep", figures)


if __name__ == "__main__":
    main()
