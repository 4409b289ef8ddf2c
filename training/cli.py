"""`hz45 training ...`: fit a model on a dataset, evaluate it with a protocol, list the models."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import typer
import yaml

from hz45.errors import ConfigError

app = typer.Typer(help="Recommendation models: train, evaluate, list.", no_args_is_help=True)

PROTOCOLS = ("rating_cv", "ranking", "leave_one_out")


def parse_params(pairs: list[str]) -> dict:
    """KEY=VALUE pairs, values read as YAML (numbers, booleans, lists, mappings)."""
    params = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param '{pair}' is not KEY=VALUE")
        params[key.strip()] = yaml.safe_load(raw)
    return params


def _setup():
    from training.config import training_config
    from training.runtime import limit_threads

    config = training_config()
    limit_threads(config.threads)
    return config


@app.command()
def train(
    model: str = typer.Argument(..., help="model name (see `hz45 training models`)"),
    dataset: str = typer.Option(None, help="dataset catalog name (default: training.dataset)"),
    param: list[str] = typer.Option([], "--param", "-p", help="model keyword argument KEY=VALUE, repeatable"),
    out: Path = typer.Option(None, help="folder to save the model in (default: training.models_dir/MODEL)"),
) -> None:
    """Fit MODEL on all interactions of a dataset and save it."""
    from hz45 import catalog
    from hz45.settings import get_settings
    from training.models import make_model

    config = _setup()
    data = catalog.load(dataset or config.dataset)
    fitted = make_model(model, **parse_params(param)).fit(data.interactions, items=data.items)
    target = out or get_settings().path(config.models_dir) / model
    fitted.save(target)
    typer.echo(f"{model} fitted on {data.name} ({len(data.interactions):,} interactions) -> {target}")


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="model name"),
    protocol: str = typer.Option("ranking", help=f"one of {', '.join(PROTOCOLS)}"),
    dataset: str = typer.Option(None, help="dataset catalog name (default: training.dataset)"),
    param: list[str] = typer.Option([], "--param", "-p", help="model keyword argument KEY=VALUE, repeatable"),
    json_out: Path = typer.Option(None, "--json", help="also write the table as JSON records here"),
) -> None:
    """Evaluate MODEL with one of the DESIGN.md protocols and print the result table."""
    from hz45 import catalog
    from training import evaluation
    from training.models import make_model

    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol '{protocol}' is not one of {', '.join(PROTOCOLS)}")
    config = _setup()
    data = catalog.load(dataset or config.dataset)
    run = getattr(evaluation, f"evaluate_{protocol}")
    kwargs = {"seed": config.seed}
    table = run(make_model(model, **parse_params(param)), data, **kwargs)
    typer.echo(table.to_string(index=False))
    if json_out:
        json_out.write_text(json.dumps(table.to_dict("records"), indent=2, default=str))


@app.command()
def models() -> None:
    """List the models and their keyword arguments with defaults."""
    from training.models import MODELS

    for name, cls in MODELS.items():
        params = [
            f"{p.name}={p.default!r}" for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"
        ]
        typer.echo(f"{name}: {', '.join(params)}")
