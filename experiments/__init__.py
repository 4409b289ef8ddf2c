"""Ray Tune sweeps, MLflow tracking and registry, and the promotion gate.

The functions the CLI and the DAGs call (each takes an optional `settings`):

    tune_svd(dataset, trials, users=None)        -> SweepResult   (experiments.sweeps)
    tune_ncf(dataset, trials, users=None)        -> SweepResult
    tune_hybrid(trials, versions=None)           -> SweepResult   blend weights of the hybrid
    register_best("svd" | "ncf", sweep_run_id=None) -> ModelVersion  (experiments.registry)
    build_and_register_hybrid(versions=None, weights=None, blend_sweep_run_id=None)
                                                 -> ModelVersion with alias `challenger`
    promote()                                    -> Decision      (experiments.promotion)
        = evaluate_challenger(expected=None)  (decide and record, no alias moves)
          + apply_decision(decision)          (move `champion` when promoted)
    rollback()                                   -> Rollback

Configuration: the `tuning:` and `promotion:` sections (experiments.config), search spaces in
configs/search_spaces/. Ray and MLflow load only when one of these is first used.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "tune_svd": "experiments.sweeps",
    "tune_ncf": "experiments.sweeps",
    "tune_hybrid": "experiments.sweeps",
    "register_best": "experiments.registry",
    "build_and_register_hybrid": "experiments.registry",
    "promote": "experiments.promotion",
    "evaluate_challenger": "experiments.promotion",
    "apply_decision": "experiments.promotion",
    "rollback": "experiments.promotion",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'experiments' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
