"""Top-10 for one listener over a 1,000,000-track catalogue on one core: the vectorised path
(one matrix-vector product over [q_i | b_i], seen tracks removed, exact top-k by a sampled
threshold) against calling `predict` once per track, on the same fitted SVD and the same user.

The catalogue and events come from the dummy generator (hz45.catalog "dummy"); the SVD
(scikit-surprise) is fitted on those events. The per-item loop is timed on a random sample of
tracks and extrapolated to the whole catalogue (it would take minutes); the script checks that
the loop's scores equal the vectorised scores on that sample.

    .venv/bin/python benchmarks/topn_speed.py [--tracks 1000000] [--events 1000000] [--factors 32]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from training import limit_threads
from training.base import top_k_indices
from training.models import SVD

from training_results import write_results

TARGET_MS = 20.0


def timings(fn, repeat: int) -> np.ndarray:
    fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return np.array(out) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    limit_threads(1)
    from hz45 import catalog

    figures: dict = {"load_average_before": round(os.getloadavg()[0], 2)}
    start = time.perf_counter()
    data = catalog.load("dummy", n_tracks=args.tracks, n_events=args.events, n_users=args.users, seed=42)
    figures["dummy_load_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    model = SVD(n_factors=args.factors).fit(data.interactions, items=data.items)
    figures["svd_fit_s"] = round(time.perf_counter() - start, 1)
    user = int(data.interactions["user_id"].value_counts().index[0])
    u = model.users.positions([user])

    vectorised = timings(lambda: model.top_n([user], 10), args.repeat)
    matvec = timings(lambda: model.score_users(u), args.repeat)
    scores = model.score_users(u)
    select = timings(lambda: top_k_indices(scores, 10), args.repeat)
    # The floor for any exact scoring: reading the item matrix once (a max over it, memory-bound).
    read_once = timings(lambda: model.scorer.item_matrix.max(), args.repeat)

    rng = np.random.default_rng(0)
    sample = rng.choice(model.items.ids, size=min(args.sample, len(model.items)), replace=False)
    loop_scores = np.empty(len(sample), dtype=np.float32)
    start = time.perf_counter()
    for n, item in enumerate(sample):
        loop_scores[n] = model.predict([user], [int(item)])[0]
    loop_sample_s = time.perf_counter() - start
    expected = np.clip(scores[0, model.items.positions(sample)], *model.rating_scale)
    loop_full_s = loop_sample_s * len(model.items) / len(sample)

    p50 = float(np.median(vectorised))
    figures.update(
        {
            "catalogue_tracks": len(model.items),
            "svd_factors": args.factors,
            "events": len(data.interactions),
            "top10_one_user_p50_ms": round(p50, 2),
            "top10_one_user_min_ms": round(float(vectorised.min()), 2),
            "top10_one_user_p90_ms": round(float(np.percentile(vectorised, 90)), 2),
            "score_matvec_p50_ms": round(float(np.median(matvec)), 2),
            "select_top10_p50_ms": round(float(np.median(select)), 2),
            "read_item_matrix_once_p50_ms": round(float(np.median(read_once)), 2),
            "item_matrix_mib": round(model.scorer.item_matrix.nbytes / 2**20, 1),
            "predict_loop_sample_items": len(sample),
            "predict_loop_sample_s": round(loop_sample_s, 2),
            "predict_loop_extrapolated_s": round(loop_full_s, 1),
            "predict_loop_us_per_item": round(loop_sample_s / len(sample) * 1e6, 1),
            "speedup_vs_predict_loop": round(loop_full_s * 1e3 / p50, 0),
            "loop_scores_equal_vectorised": bool(np.allclose(loop_scores, expected, rtol=1e-5, atol=1e-5)),
            "target_ms": TARGET_MS,
            "meets_target": p50 < TARGET_MS,
            "threads": 1,
        }
    )
    write_results("topn_speed", figures)


if __name__ == "__main__":
    main()
