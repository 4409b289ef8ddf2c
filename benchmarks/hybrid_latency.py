"""Per-request latency of the hybrid pyfunc on the real music catalogue (lastfm-spotify: Last.fm
listeners joined with real Spotify tracks), one core, n=10: known listeners, known listeners with
5 recent tracks as context, and new listeners with context. The model is loaded back from its
MLflow pyfunc folder, as a server loads it. Baseline in the same run: top-10 from the hybrid's
SVD component alone (one matrix-vector product). Target: well under 10 ms.

    .venv/bin/python benchmarks/hybrid_latency.py [--dataset lastfm-spotify] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import mlflow
import numpy as np
import pandas as pd

from training import limit_threads
from training.models import Hybrid
from training.pyfunc import build_hybrid_pyfunc

from training_results import write_results


def latency_ms(calls) -> np.ndarray:
    calls[0]()
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return np.array(out) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="lastfm-spotify")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    limit_threads(1)
    from hz45 import catalog

    figures: dict = {"load_average_before": round(os.getloadavg()[0], 2)}
    data = catalog.load(args.dataset)
    start = time.perf_counter()
    hybrid = Hybrid().fit(data.interactions, items=data.items)
    figures["hybrid_fit_s"] = round(time.perf_counter() - start, 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_hybrid_pyfunc(hybrid, f"{tmp}/pyfunc")
        pyfunc = mlflow.pyfunc.load_model(str(path))
    served = pyfunc.unwrap_python_model()
    rng = np.random.default_rng(0)
    users = rng.choice(hybrid.users.ids, args.requests)
    tracks = hybrid.items.ids
    contexts = [[int(x) for x in rng.choice(tracks, 5, replace=False)] for _ in range(args.requests)]
    new_users = np.arange(args.requests) + int(hybrid.users.ids.max()) + 1
    svd = hybrid.parts["svd"]
    cases = {
        "known": [lambda u=u: served.recommend_one(int(u), 10) for u in users],
        "known_with_context": [lambda u=u, c=c: served.recommend_one(int(u), 10, context=c) for u, c in zip(users, contexts)],
        "new_with_context": [lambda u=u, c=c: served.recommend_one(int(u), 10, context=c) for u, c in zip(new_users, contexts)],
        "pyfunc_predict_known": [
            lambda u=u: pyfunc.predict(pd.DataFrame({"user_id": [int(u)], "n": [10]})) for u in users[:100]
        ],
        "baseline_svd_top10": [lambda u=u: svd.top_n([int(u)], 10) for u in users],
    }
    for name, calls in cases.items():
        ms = latency_ms(calls)
        figures[f"{name}_p50_ms"] = round(float(np.median(ms)), 2)
        figures[f"{name}_p99_ms"] = round(float(np.percentile(ms, 99)), 2)
    base = figures["baseline_svd_top10_p50_ms"]
    for name in ("known", "known_with_context", "new_with_context"):
        figures[f"{name}_ratio_to_baseline"] = round(figures[f"{name}_p50_ms"] / base, 1)
    figures.update(
        {
            "dataset": args.dataset,
            "catalogue_tracks": len(hybrid.items),
            "listeners": len(hybrid.users),
            "blend_weights": ", ".join(f"{k}={v}" for k, v in hybrid.weights.items()),
            "target_p50_ms": 10.0,
            "meets_target": max(figures[f"{c}_p50_ms"] for c in ("known", "known_with_context", "new_with_context")) < 10.0,
            "threads": 1,
        }
    )
    write_results("hybrid_latency", figures)


if __name__ == "__main__":
    main()
