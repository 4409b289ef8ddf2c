"""`hz45 data ...`: list the datasets, show one's counts, write the dummy data at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
import yaml

from hz45.errors import ConfigError
from hz45.settings import get_settings

app = typer.Typer(help="The dataset catalog: list, show counts, generate dummy data.", no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """The datasets `hz45 data show` and `hz45.catalog.load` know."""
    from hz45 import catalog  # pandas loads only for the command that needs it

    for name in catalog.names():
        typer.echo(f"{name:16} {catalog.describe(name)}")


def _options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"data: option '{pair}' is not KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


@app.command()
def show(
    name: str,
    option: list[str] = typer.Option([], "--option", "-o", help="a loader option KEY=VALUE, repeatable"),
) -> None:
    """Load a dataset and print its counts and notes."""
    from hz45 import catalog

    dataset = catalog.load(name, **_options(option))
    typer.echo(dataset.name)
    for key, value in {**dataset.summary(), **{f"extras.{k}": len(v) for k, v in dataset.extras.items()}}.items():
        typer.echo(f"  {key:24} {value:,}")
    if len(dataset.interactions):
        counts = dataset.interactions["event_type"].value_counts()
        typer.echo("  events                   " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for key, value in dataset.notes.items():
        typer.echo(f"  {key:24} {value}")


@app.command()
def dummy(
    tracks: int = typer.Option(1_000, min=1, help="number of tracks"),
    events: int = typer.Option(10_000, min=0, help="number of events"),
    users: Optional[int] = typer.Option(None, min=1, help="number of users [default: tracks / 10, at least 100]"),
    artists: Optional[int] = typer.Option(None, min=1, help="number of artists [default: tracks / 10]"),
    seed: Optional[int] = typer.Option(None, help="random seed [default: data.seed]"),
    out: Path = typer.Option(Path("data/dummy"), help="output folder"),
) -> None:
    """Write dummy users, artists, tracks and events as Parquet (chunked: any size fits in memory)."""
    from hz45 import catalog

    meta = catalog.write_dummy(
        out,
        n_users=users or max(100, tracks // 10),
        n_tracks=tracks,
        n_events=events,
        seed=get_settings().data.seed if seed is None else seed,
        n_artists=artists,
    )
    typer.echo(f"wrote {out}: " + ", ".join(f"{k} {v:,}" for k, v in meta.items() if isinstance(v, int)))
