"""`hz45 features ...`: run the Spark feature jobs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from hz45.settings import get_settings

app = typer.Typer(help="Spark batch feature jobs: clean, item/user features, charts, training sets.",
                  no_args_is_help=True)


@app.command("build")
def build_command(
    date: str = typer.Option(..., "--date", help="run date, YYYY-MM-DD: events up to its end are used"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="catalog dataset (default: features.dataset)"),
    job: Optional[list[str]] = typer.Option(
        None, "--job", help="job to run, repeatable: clean, items, users, charts, training (default: all, in that order)"),
    input_dir: Optional[Path] = typer.Option(
        None, "--input", help="folder of canonical Parquet tables (events.parquet, tracks.parquet) to read"),
) -> None:
    """Build the features of one run date: offline store (Parquet) and main-DB tables."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # Imported here: pyspark is heavy, and every `hz45` command loads this module.
    from features.jobs import build, parse_date

    report = build(get_settings(), parse_date(date), dataset, job, input_dir)
    typer.echo(json.dumps(report, indent=1))
