"""`hz45 tune ...`, `hz45 register ...`, `hz45 promote`, `hz45 rollback`."""

from __future__ import annotations

from typing import Optional

import typer

tune_app = typer.Typer(help="Ray Tune sweeps tracked in MLflow: svd, ncf, hybrid blend weights.", no_args_is_help=True)
register_app = typer.Typer(help="Register a sweep's best trial, or assemble and register the hybrid.",
                           no_args_is_help=True)  # fmt: skip
promote_app = typer.Typer(help="Gate the hybrid's challenger against its champion on the frozen holdout.")
rollback_app = typer.Typer(help="Move the hybrid's champion back to the previous champion.")

Dataset = typer.Option("ml-100k", "--dataset", help="a dataset of the catalog (hz45 data list)")
Users = typer.Option(None, "--users", min=2, help="sample this many listeners (quick sweeps)")
Concurrency = typer.Option(None, "--concurrency", min=1, help="trials at once [default: tuning.max_concurrent]")
SvdVersion = typer.Option(None, "--svd-version", help="registered SVD version [default: latest]")
NcfVersion = typer.Option(None, "--ncf-version", help="registered NCF version [default: latest]")


def _print_sweep(result) -> None:
    typer.echo(
        f"sweep {result.parent_run_id} ({result.model} on {result.dataset}): {result.finished} finished, "
        f"{result.stopped_early} stopped early, {result.failed} failed in {result.wall_seconds:.0f}s"
    )
    typer.echo(f"best trial {result.best_run_id}: {result.metric} = {result.best_value:.4f}")
    for key, value in sorted(result.best_params.items()):
        if key.startswith("model."):
            typer.echo(f"  {key:28} {value}")


def _model_sweep(model: str, default_trials: int, objective: str) -> None:
    """`hz45 tune <model>`: the SVD and NCF sweeps take the same options."""

    def command(
        dataset: str = Dataset,
        trials: int = typer.Option(default_trials, "--trials", min=1),
        users: Optional[int] = Users,
        concurrency: Optional[int] = Concurrency,
    ) -> None:
        from experiments.data import DataRef
        from experiments.sweeps import run_sweep

        _print_sweep(run_sweep(model, DataRef(dataset, users), trials, max_concurrent=concurrency))

    command.__doc__ = f"Sweep {model} (configs/search_spaces/{model}.yaml), {objective}."
    tune_app.command(model)(command)


_model_sweep("svd", 20, "minimising validation RMSE")
_model_sweep("ncf", 8, "with ASHA early stopping, maximising validation nDCG@10")


@tune_app.command("hybrid")
def tune_hybrid(
    trials: int = typer.Option(12, "--trials", min=1),
    svd_version: Optional[str] = SvdVersion,
    ncf_version: Optional[str] = NcfVersion,
    concurrency: Optional[int] = Concurrency,
) -> None:
    """Sweep the hybrid's blend weights over the registered components, on their data."""
    from experiments.sweeps import tune_hybrid as run

    _print_sweep(run(trials, {"svd": svd_version, "ncf": ncf_version}, max_concurrent=concurrency))


def _print_version(version) -> None:
    typer.echo(f"registered {version.name} version {version.version} (run {version.run_id})")
    if version.aliases:
        typer.echo(f"  aliases: {', '.join(version.aliases)}")


@register_app.command("svd")
def register_svd(sweep: Optional[str] = typer.Option(None, "--sweep", help="sweep run id [default: latest]")) -> None:
    """Register the best trial of an SVD sweep."""
    from experiments.registry import register_best

    _print_version(register_best("svd", sweep))


@register_app.command("ncf")
def register_ncf(sweep: Optional[str] = typer.Option(None, "--sweep", help="sweep run id [default: latest]")) -> None:
    """Register the best trial of an NCF sweep."""
    from experiments.registry import register_best

    _print_version(register_best("ncf", sweep))


@register_app.command("hybrid")
def register_hybrid(
    svd_version: Optional[str] = SvdVersion,
    ncf_version: Optional[str] = NcfVersion,
    blend_sweep: Optional[str] = typer.Option(
        None, "--blend-sweep", help="take the weights of this blend sweep's best trial"
    ),
) -> None:
    """Assemble the hybrid from registered components and register it as the challenger."""
    from experiments.registry import build_and_register_hybrid

    _print_version(build_and_register_hybrid({"svd": svd_version, "ncf": ncf_version}, blend_sweep_run_id=blend_sweep))


@promote_app.callback(invoke_without_command=True)
def promote() -> None:
    """Evaluate challenger and champion on the frozen holdout; move `champion` if the gate passes."""
    from experiments.promotion import promote as run

    decision = run()
    verdict = "PROMOTED" if decision.promoted else "REFUSED"
    was = decision.champion or "none"
    typer.echo(f"{verdict}: {decision.model} version {decision.challenger} (champion was {was})")
    typer.echo(f"  {decision.reason}")
    for metric, value in decision.challenger_metrics.items():
        before = decision.champion_metrics.get(metric)
        typer.echo(f"  {metric:18} {value:.4f}" + (f"  (champion {before:.4f})" if before is not None else ""))
    typer.echo(f"  holdout digest {decision.holdout_digest}; decision run {decision.run_id}")


@rollback_app.callback(invoke_without_command=True)
def rollback() -> None:
    """Point `champion` back at the previous champion."""
    from experiments.promotion import rollback as run

    done = run()
    typer.echo(
        f"{done.model}: champion moved from version {done.from_version} back to {done.to_version} (run {done.run_id})"
    )
