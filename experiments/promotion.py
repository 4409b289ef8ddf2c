"""The promotion gate and rollback of the served hybrid (aliases, not stages).

`promote` loads the versions behind `challenger` and `champion`, asks both for top-k lists for
every listener of the frozen holdout exactly as the serving app asks (one request row per
listener with their recent tracks as context), and moves `champion` to the challenger only if it
wins the primary metric by the configured margin and no secondary metric drops beyond its
tolerance. The first version becomes champion when there is none. Every decision is an MLflow
run (both versions' metrics, the reason) and tags on the challenger version. The registered
model's tag `hz45.champion_history` lists the champions in order; `rollback` moves `champion`
back one step along it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from hz45.errors import ConfigError, Hz45Error
from hz45.settings import Settings, get_settings
from experiments.config import PromotionConfig, promotion_config, tuning_config
from experiments.data import DATASET_TAG, DataRef, SweepData, sweep_data
from experiments.evaluate import ranking_metrics
from experiments.registry import CHALLENGER, CHAMPION, aliases, registered_name
from experiments.tracking import KIND_TAG, client_for, experiment_id, git_tags, log_metrics, log_params, write_json
from training import metrics
from training.base import IdIndex
from training.feedback import positives

HISTORY_TAG = "hz45.champion_history"
PROMOTION_EXPERIMENT_SUFFIX = "-promotion"


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    model: str
    challenger: str
    champion: str | None  # the champion before the decision
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float]
    holdout_digest: str
    run_id: str


@dataclass(frozen=True)
class Rollback:
    model: str
    from_version: str
    to_version: str
    run_id: str


def holdout_metric_names(k: int) -> list[str]:
    return [f"ndcg_at_{k}", f"map_at_{k}", f"precision_at_{k}", f"recall_at_{k}", f"hr_at_{k}", "coverage", "novelty"]


def check_metrics(config: PromotionConfig, k: int) -> None:
    known = holdout_metric_names(k)
    named = {"promotion.primary_metric": config.primary_metric}
    named.update({f"promotion.secondary_tolerances.{m}": m for m in config.secondary_tolerances})
    for key, metric in named.items():
        if metric not in known:
            raise ConfigError(f"config: bad value for '{key}': unknown metric '{metric}'", f"one of {', '.join(known)}")


def holdout_requests(data: SweepData, k: int, context_tracks: int) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """One request per holdout listener (user_id, n, context = their latest development tracks,
    exclude = none) and the items each of them is known to want."""
    truth = positives(data.holdout.rows).groupby("user_id")["item_id"].apply(np.asarray)
    development = pd.concat([data.train, data.valid], ignore_index=True)
    if "timestamp" in development.columns:
        development = development.sort_values("timestamp", kind="stable")
    recent = development.groupby("user_id")["item_id"].apply(lambda s: [int(x) for x in s.tail(context_tracks)])
    users = truth.index.to_numpy(np.int64)
    context = [recent.get(u, []) if context_tracks else [] for u in users]
    request = pd.DataFrame({"user_id": users, "n": np.full(len(users), k, dtype=np.int64),
                            "context": context, "exclude": [[] for _ in users]})  # fmt: skip
    return request, list(truth.to_numpy())


def holdout_metrics(
    model_uri: str, tracking_uri: str, data: SweepData, k: int, context_tracks: int
) -> dict[str, float]:
    """The served model's top-k quality on the frozen holdout, as the serving app would ask it."""
    with tempfile.TemporaryDirectory(prefix="hz45-gate-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model_uri, dst_path=tmp, tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
        model = mlflow.pyfunc.load_model(local)
        request, truth = holdout_requests(data, k, context_tracks)
        out = model.predict(request)
    ranked = np.full((len(request), k), -1, dtype=np.int64)
    row_of = pd.Series(np.arange(len(request)), index=request["user_id"].to_numpy())
    out = out.assign(_row=row_of.reindex(out["user_id"].to_numpy()).to_numpy())
    out["_rank"] = out.groupby("_row").cumcount()
    out = out[out["_rank"] < k]
    ranked[out["_row"].to_numpy(np.int64), out["_rank"].to_numpy(np.int64)] = out["item_id"].to_numpy(np.int64)
    result, _ = ranking_metrics(ranked, truth, k)
    catalogue = IdIndex(data.items["item_id"].to_numpy(np.int64))
    positions = catalogue.positions(ranked.reshape(-1))
    positions = positions[positions >= 0]
    development = pd.concat([data.train, data.valid], ignore_index=True)
    listeners = np.bincount(
        catalogue.positions(development.drop_duplicates(["user_id", "item_id"])["item_id"]).clip(min=0),
        minlength=len(catalogue),
    )
    result["coverage"] = metrics.coverage(positions, len(catalogue))
    result["novelty"] = metrics.novelty(positions, listeners, development["user_id"].nunique())
    return result


def decide(
    challenger: dict[str, float], champion: dict[str, float] | None, config: PromotionConfig
) -> tuple[bool, str]:
    """The gate: (promote?, why)."""
    primary = config.primary_metric
    if champion is None:
        return True, f"first version: no champion yet ({primary} {challenger[primary]:.4f})"
    gain = challenger[primary] - champion[primary]
    if gain < config.margin:
        return False, (
            f"{primary} {challenger[primary]:.4f} vs champion {champion[primary]:.4f}: "
            f"gain {gain:+.4f} is below the margin {config.margin}"
        )
    for metric, tolerance in config.secondary_tolerances.items():
        drop = champion[metric] - challenger[metric]
        if drop > tolerance:
            return False, (
                f"{primary} improves by {gain:+.4f}, but {metric} drops by {drop:.4f} "
                f"({challenger[metric]:.4f} vs {champion[metric]:.4f}), beyond its tolerance {tolerance}"
            )
    return True, (
        f"{primary} {challenger[primary]:.4f} vs {champion[primary]:.4f} ({gain:+.4f} >= margin {config.margin}); "
        "no secondary metric beyond its tolerance"
    )


def promote(settings: Settings | None = None) -> Decision:
    """Gate the `challenger` version of the hybrid against `champion` on the frozen holdout, and
    move `champion` to it when it passes."""
    decision = evaluate_challenger(settings=settings)
    if decision.promoted:
        apply_decision(decision, settings)
    return decision


def evaluate_challenger(expected: str | None = None, settings: Settings | None = None) -> Decision:
    """The gate's decision on the `challenger` version (which must be `expected` when given),
    recorded as an MLflow run and as tags on the version; no alias moves (see apply_decision)."""
    settings = settings or get_settings()
    config = promotion_config(settings)
    tuning = tuning_config(settings)
    check_metrics(config, tuning.k)
    client = client_for(settings)
    name = registered_name("hybrid", tuning)
    current = aliases(client, name)
    if CHALLENGER not in current:
        raise Hz45Error(f"model '{name}' has no '{CHALLENGER}' version", "build one with `hz45 register hybrid`")
    version, champion_version = current[CHALLENGER], current.get(CHAMPION)
    if expected is not None and version != str(expected):
        raise Hz45Error(
            f"'{CHALLENGER}' of '{name}' is version {version}, not {expected}", "a newer hybrid was registered"
        )
    if champion_version == version:
        raise Hz45Error(f"version {version} is already the champion")
    data = sweep_data(DataRef.from_tags(client.get_model_version(name, version).tags), settings)
    uri = client.tracking_uri

    def measure(which: str) -> dict[str, float]:
        return holdout_metrics(f"models:/{name}/{which}", uri, data, tuning.k, config.context_tracks)

    challenger_metrics = measure(version)
    champion_metrics = measure(champion_version) if champion_version else None
    promoted, reason = decide(challenger_metrics, champion_metrics, config)
    champion_data = client.get_model_version(name, champion_version).tags.get(DATASET_TAG) if champion_version else None
    if champion_data and champion_data != data.label:
        reason += f" (the champion learned from {champion_data}, the holdout is of {data.label})"

    run_id = _record_decision(
        client, settings, name, version, champion_version, challenger_metrics,
        champion_metrics or {}, promoted, reason, data, config,
    )
    tags = {
        "hz45.promotion.decision": "promoted" if promoted else "refused",
        "hz45.promotion.reason": reason,
        "hz45.promotion.run_id": run_id,
        "hz45.promotion.against": champion_version or "",
        "hz45.promotion.at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hz45.promotion.holdout_digest": data.holdout.digest,
        **{f"hz45.holdout.{m}": f"{v:.6f}" for m, v in challenger_metrics.items()},
        **{f"hz45.promotion.champion.{m}": f"{v:.6f}" for m, v in (champion_metrics or {}).items()},
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return Decision(promoted, reason, name, version, champion_version, challenger_metrics,
                    champion_metrics or {}, data.holdout.digest, run_id)  # fmt: skip


def apply_decision(decision: Decision, settings: Settings | None = None) -> None:
    """Make a promoted challenger the champion, refusing when the aliases moved since the decision."""
    if not decision.promoted:
        raise Hz45Error(f"version {decision.challenger} was refused by the gate: {decision.reason}")
    client = client_for(settings or get_settings())
    name, version = decision.model, decision.challenger
    current = aliases(client, name)
    if current.get(CHALLENGER) != version or current.get(CHAMPION) != decision.champion:
        raise Hz45Error(f"the aliases of '{name}' moved since the decision on version {version}",
                        "run the gate again")  # fmt: skip
    client.set_registered_model_alias(name, CHAMPION, version)
    client.delete_registered_model_alias(name, CHALLENGER)
    _set_history(client, name, [*_history(client, name), version])


def rollback(settings: Settings | None = None) -> Rollback:
    """Move `champion` back to the version that was champion before the current one."""
    settings = settings or get_settings()
    tuning = tuning_config(settings)
    client = client_for(settings)
    name = registered_name("hybrid", tuning)
    current = aliases(client, name).get(CHAMPION)
    if current is None:
        raise Hz45Error(f"model '{name}' has no champion to roll back")
    history = _history(client, name)
    where = len(history) - 1 - history[::-1].index(current) if current in history else -1
    if where < 1:
        raise Hz45Error(f"no earlier champion of '{name}' to roll back to (history: {','.join(history) or 'empty'})")
    previous = history[where - 1]
    client.set_registered_model_alias(name, CHAMPION, previous)
    _set_history(client, name, history[:where])
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    client.set_model_version_tag(name, current, "hz45.rolled_back_at", stamp)
    experiment = experiment_id(client, settings.mlflow.experiment + PROMOTION_EXPERIMENT_SUFFIX, settings)
    run = client.create_run(experiment, run_name=f"rollback-v{current}-to-v{previous}",
                            tags={**git_tags(), KIND_TAG: "rollback", "hz45.registered_model": name})  # fmt: skip
    log_params(client, run.info.run_id, {"from_version": current, "to_version": previous, "history": ",".join(history)})
    client.set_terminated(run.info.run_id, "FINISHED")
    return Rollback(name, current, previous, run.info.run_id)


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return [v for v in tags.get(HISTORY_TAG, "").split(",") if v]


def _set_history(client: MlflowClient, name: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))


def _record_decision(
    client, settings, name, challenger, champion, challenger_metrics, champion_metrics, promoted, reason, data, config
) -> str:
    experiment = experiment_id(client, settings.mlflow.experiment + PROMOTION_EXPERIMENT_SUFFIX, settings)
    run = client.create_run(
        experiment,
        run_name=f"promote-v{challenger}",
        tags={
            **git_tags(),
            KIND_TAG: "promotion",
            "hz45.registered_model": name,
            "hz45.decision": "promoted" if promoted else "refused",
            "hz45.reason": reason,
        },
    )
    run_id = run.info.run_id
    status = "FAILED"
    try:
        log_params(client, run_id, {
            "challenger_version": challenger,
            "champion_version": champion or "none",
            "primary_metric": config.primary_metric,
            "margin": config.margin,
            **{f"tolerance.{m}": t for m, t in config.secondary_tolerances.items()},
            "holdout.dataset": data.label,
            "holdout.digest": data.holdout.digest,
            "holdout.rows": len(data.holdout.rows),
        })  # fmt: skip
        log_metrics(client, run_id, {f"challenger.{m}": v for m, v in challenger_metrics.items()})
        log_metrics(client, run_id, {f"champion.{m}": v for m, v in champion_metrics.items()})
        with tempfile.TemporaryDirectory(prefix="hz45-decision-") as tmp:
            record = {
                "promoted": promoted, "reason": reason, "model": name, "challenger": challenger, "champion": champion,
                "challenger_metrics": challenger_metrics, "champion_metrics": champion_metrics,
                "holdout": {"dataset": data.label, "digest": data.holdout.digest},
                "config": config.model_dump(mode="json"),
            }  # fmt: skip
            client.log_artifact(run_id, str(write_json(Path(tmp) / "decision.json", record)))
        status = "FINISHED"
    finally:
        client.set_terminated(run_id, status)
    return run_id
