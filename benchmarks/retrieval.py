"""The hybrid's request path with its retrieval index against scoring every item, on the model
`serving_load.py` serves (implicit ALS + content, fitted on the catalogue and registered there;
fitted here when missing): per-request latency of both paths in the same run, one thread, and the
index's recall@10 (share of the exact top 10 it returns) over the same requests.

Requests: training listeners; the same listeners with 5 recent tracks as context; listeners never
seen, with context. The exact answer is the dense path: every component scored over the whole
catalogue and z-scored from its scores. Training listeners without context are also timed as
served: from the default lists saved with the version (built through the index, so their recall
is the index's).

    .venv/bin/python benchmarks/retrieval.py [--catalogue dummy1m] [--requests 200]
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import sys
import time
from pathlib import Path

import mlflow
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving_load as sl  # noqa: E402
from training_results import write_results  # noqa: E402

from serving.watcher import exempt_from_gc  # noqa: E402
from training import limit_threads  # noqa: E402


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    out = call()
    return (time.perf_counter() - start) * 1e3, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", choices=sorted(sl.CATALOGUES), default="dummy1m")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    uri, users, _ = sl.prepare(args.catalogue)
    limit_threads(1)
    figures: dict = {"catalogue": args.catalogue, "load_average_before": round(os.getloadavg()[0], 2)}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    start = time.perf_counter()
    listed = mlflow.pyfunc.load_model(f"models:/{sl.MODEL}@champion").unwrap_python_model().model
    figures["model_load_s"] = round(time.perf_counter() - start, 1)
    # The saved default lists answer requests without context before any index is searched.
    hybrid = copy.copy(listed)
    hybrid.default_lists = None
    dense = copy.copy(hybrid)
    dense.retrieval = None
    index = hybrid.retrieval
    figures.update(
        tracks=len(hybrid.items),
        listeners=len(hybrid.users),
        components=", ".join(f"{k}={v}" for k, v in hybrid.weights.items()),
        clusters=len(index.centroids),
        scan=hybrid.scan,
        candidates=hybrid.candidates,
    )
    rng = np.random.default_rng(0)
    known = rng.choice(users, args.requests)
    contexts = [[int(x) for x in rng.choice(hybrid.items.ids, 5, replace=False)] for _ in range(args.requests)]
    unseen = np.arange(args.requests) + int(hybrid.users.ids.max()) + 1
    cases = {
        "known": [(int(u), []) for u in known],
        "known_with_context": [(int(u), c) for u, c in zip(known, contexts, strict=True)],
        "new_with_context": [(int(u), c) for u, c in zip(unseen, contexts, strict=True)],
    }
    for name, requests in cases.items():
        hybrid.recommend_arrays(*requests[0][:1], 10, context=requests[0][1])  # warm caches
        fast, exact, recall = [], [], []
        for user, context in requests:
            ms, (found, *_) = timed(lambda: hybrid.recommend_arrays(user, 10, context=context))
            fast.append(ms)
            ms, (truth, *_) = timed(lambda: dense.recommend_arrays(user, 10, context=context))
            exact.append(ms)
            recall.append(len(set(found.tolist()) & set(truth.tolist())) / max(1, len(truth)))
        figures[f"{name}_index_p50_ms"] = round(float(np.median(fast)), 2)
        figures[f"{name}_index_p99_ms"] = round(float(np.percentile(fast, 99)), 2)
        figures[f"{name}_every_item_p50_ms"] = round(float(np.median(exact)), 2)
        figures[f"{name}_speedup"] = round(float(np.median(exact) / np.median(fast)), 1)
        figures[f"{name}_recall_at_10"] = round(float(np.mean(recall)), 3)
    saved = [timed(lambda: listed.recommend_arrays(user, 10))[0] for user, _ in cases["known"]]
    figures["known_default_list_p50_ms"] = round(float(np.median(saved)), 3)
    figures["known_default_list_p99_ms"] = round(float(np.percentile(saved, 99)), 3)
    # What a full garbage collection costs in a process holding this version, before and after
    # serving's watcher takes the loaded version out of the collector's reach.
    figures["full_gc_ms"] = round(timed(gc.collect)[0], 1)
    exempt_from_gc()
    figures["full_gc_after_exempt_ms"] = round(timed(gc.collect)[0], 1)
    gc.unfreeze()
    figures["threads"] = 1
    write_results("retrieval", figures, label=f"retrieval_{args.catalogue}")


if __name__ == "__main__":
    main()
