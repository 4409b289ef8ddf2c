"""Figures logged as run artifacts (matplotlib's Agg backend: no display needed, safe in workers)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curve(history: pd.DataFrame, path: Path) -> Path:
    """Training loss and every validation metric per epoch (history: epoch + metric columns)."""
    others = [c for c in history.columns if c not in ("epoch", "loss")]
    fig, axes = plt.subplots(1, 1 + bool(others), figsize=(5 + 4 * bool(others), 3.6), squeeze=False)
    if "loss" in history:
        axes[0, 0].plot(history["epoch"], history["loss"], marker="o")
    axes[0, 0].set(title="training loss", xlabel="epoch")
    if others:
        for col in others:
            axes[0, 1].plot(history["epoch"], history[col], marker="o", label=col)
        axes[0, 1].set(title="validation", xlabel="epoch")
        axes[0, 1].legend()
    return _save(fig, path)


def predicted_vs_actual(frame: pd.DataFrame, path: Path, ratings: bool) -> Path:
    """Ratings: the spread of predictions for each true rating. Ranking models: the score
    distributions of held-out positives and random items."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    if ratings:
        levels = np.sort(frame["actual"].round().unique())
        ax.boxplot([frame.loc[frame["actual"].round() == r, "predicted"] for r in levels],
                   tick_labels=[f"{r:g}" for r in levels], showfliers=False)
        ax.plot(range(1, len(levels) + 1), levels, "r--", label="ideal")
        ax.set(xlabel="actual rating", ylabel="predicted rating", title="predicted vs actual")
        ax.legend()
    else:
        bins = np.linspace(frame["predicted"].min(), frame["predicted"].max(), 40)
        for label, name in ((1.0, "held-out positives"), (0.0, "random items")):
            ax.hist(frame.loc[frame["actual"] == label, "predicted"], bins=bins, alpha=0.6, label=name)
        ax.set(xlabel="score", ylabel="pairs", title="scores: held-out vs random")
        ax.legend()
    return _save(fig, path)


def by_activity(table: pd.DataFrame, path: Path) -> Path:
    """Each metric per bucket of listener activity (training interactions)."""
    cols = [c for c in table.columns if c not in ("bucket", "users")]
    fig, axes = plt.subplots(1, len(cols), figsize=(3.6 * len(cols), 3.4), squeeze=False)
    for ax, col in zip(axes[0], cols):
        ax.bar(table["bucket"].astype(str), table[col])
        ax.set(title=col, xlabel="training interactions per listener")
        ax.tick_params(axis="x", labelrotation=30)
    return _save(fig, path)


def sweep_progress(trials: pd.DataFrame, metric: str, mode: str, path: Path) -> Path:
    """The objective of every finished trial in start order, and the best so far."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(range(1, len(trials) + 1), trials[metric], "o", label="trial")
    best = trials[metric].cummin() if mode == "min" else trials[metric].cummax()
    ax.step(range(1, len(trials) + 1), best, where="post", label="best so far")
    ax.set(xlabel="trial (start order)", ylabel=metric, title="sweep progress")
    ax.legend()
    return _save(fig, path)
