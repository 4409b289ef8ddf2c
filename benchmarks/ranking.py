"""MovieLens-100K top-10 ranking, two protocols.

1. 75/25 split stratified by user, seen items removed, every held-out item relevant: MAP, nDCG@10,
   Precision@10, Recall@10 as in the Microsoft `recommenders` benchmark table (published on the
   same protocol: NCF nDCG@10 0.396, BPR 0.442, BiVAE 0.475, SVD 0.096). Targets: NeuMF >= 0.40,
   hybrid >= 0.45.
2. Leave-one-out (each user's latest rating) ranked among 99 sampled negatives, HR@10 and NDCG@10
   as in the NCF paper (He et al. 2017, MovieLens-1M: NeuMF HR@10 0.730, NDCG@10 0.447; a
   different dataset, so for context only).

Hyperparameters were chosen on a validation split inside the training part, never on the test part.

    .venv/bin/python benchmarks/ranking.py [--models svd,als,ncf,hybrid] [--protocols split,loo]
"""

from __future__ import annotations

import argparse
import os
import time

from training import evaluate_leave_one_out, evaluate_ranking, limit_threads
from training.models import make_model

from training_results import write_results

MODELS = {"svd": {}, "als": {}, "ncf": {}, "content": {}, "hybrid": {}}
PUBLISHED = {
    "ndcg@10_published_msr_ncf": 0.396,
    "ndcg@10_published_msr_bpr": 0.442,
    "ndcg@10_published_msr_bivae": 0.475,
    "ndcg@10_published_msr_svd": 0.096,
    "map_published_msr_bivae": 0.146,
    "precision@10_published_msr_bivae": 0.411,
    "recall@10_published_msr_bivae": 0.219,
    "hr@10_loo_published_ncf_paper_ml1m": 0.730,
    "ndcg@10_loo_published_ncf_paper_ml1m": 0.447,
}
SPLIT_METRICS = ("map", "ndcg@10", "precision@10", "recall@10", "coverage", "novelty")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--protocols", default="split,loo")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    limit_threads(args.threads)
    from hz45 import catalog

    data = catalog.load("ml-100k")
    figures: dict = {"load_average_before": round(os.getloadavg()[0], 2)}
    protocols = args.protocols.split(",")
    for name in args.models.split(","):
        if "split" in protocols:
            start = time.perf_counter()
            row = evaluate_ranking(make_model(name, **MODELS[name]), data, k=10, ratio=0.75, seed=42).iloc[0]
            figures.update({f"{m}_{name}": round(float(row[m]), 4) for m in SPLIT_METRICS})
            figures[f"wall_s_split_{name}"] = round(time.perf_counter() - start, 1)
            print(name, {m: figures[f"{m}_{name}"] for m in SPLIT_METRICS}, flush=True)
        if "loo" in protocols and name in ("ncf", "hybrid", "als"):
            start = time.perf_counter()
            row = evaluate_leave_one_out(make_model(name, **MODELS[name]), data, k=10, negatives=99, seed=42).iloc[0]
            figures[f"hr@10_loo_{name}"] = round(float(row["hr@10"]), 4)
            figures[f"ndcg@10_loo_{name}"] = round(float(row["ndcg@10"]), 4)
            figures[f"wall_s_loo_{name}"] = round(time.perf_counter() - start, 1)
            print(name, "loo", figures[f"hr@10_loo_{name}"], figures[f"ndcg@10_loo_{name}"], flush=True)
    figures.update(PUBLISHED)
    if "ndcg@10_ncf" in figures:
        figures["meets_target_ncf_ndcg_0_40"] = figures["ndcg@10_ncf"] >= 0.40
    if "ndcg@10_hybrid" in figures:
        figures["meets_target_hybrid_ndcg_0_45"] = figures["ndcg@10_hybrid"] >= 0.45
        figures["hybrid_beats_best_published_0_475"] = figures["ndcg@10_hybrid"] > 0.475
    write_results("ranking", figures)


if __name__ == "__main__":
    main()
