"""`hz45 stream ...`: replay events into Kafka and run the streaming job."""

from __future__ import annotations

import json
import logging
from typing import Optional

import typer
from pydantic import ValidationError
from tqdm import tqdm

from hz45.errors import ConfigError
from hz45.settings import get_settings
from streaming.config import Replay, load_config

app = typer.Typer(help="Real-time events: replay datasets into Kafka, run the streaming job.", no_args_is_help=True)


@app.command("replay")
def replay_command(
    dataset: str = typer.Option(..., "--dataset", help="catalog dataset: lastfm-spotify, ml-100k, dummy, ..."),
    rate: Optional[float] = typer.Option(None, "--rate", help="records per second (default streaming.replay.rate)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="stop after this many records"),
    malformed_share: Optional[float] = typer.Option(
        None, "--malformed-share", help="share of injected malformed records, 0..1 (default streaming.replay)"),
    clock: Optional[str] = typer.Option(
        None, "--clock", help="original: the dataset's timestamps; live: stamped when sent"),
) -> None:
    """Replay a dataset's interactions, in time order, into the raw event topic."""
    settings = get_settings()
    given = {"rate": rate, "malformed_share": malformed_share, "clock": clock}
    options = _replay_options(load_config(settings).replay, given)
    if limit is not None and limit < 1:
        raise ConfigError("stream replay: --limit must be at least 1")
    from streaming.replay import replay  # pandas and the catalog load only when used

    with tqdm(total=limit, unit="ev", desc=f"replay {dataset}", disable=None) as bar:
        report = replay(settings, dataset, options.rate, limit, options.malformed_share, options.clock,
                        options.session_gap_s, bar.update)
    typer.echo(json.dumps({"topic": settings.kafka.topics.raw_events, "valid": report.valid,
                           "malformed": report.malformed, "seconds": round(report.seconds, 2),
                           "rate": round(report.rate, 1), "malformed_kinds": report.malformed_kinds}))


def _replay_options(defaults: Replay, given: dict) -> Replay:
    """The configured replay options with those given on the command line, validated."""
    try:
        return Replay.model_validate({**defaults.model_dump(), **{k: v for k, v in given.items() if v is not None}})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"stream replay: bad --{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None


@app.command("run")
def run_command(
    available_now: bool = typer.Option(
        False, "--available-now", help="process what is on the topic now, then stop"),
) -> None:
    """Run the streaming job (until Ctrl-C / SIGTERM); it resumes from its checkpoints."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    # The clients' connection chatter says nothing about the job.
    for noisy in ("kafka", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = get_settings()
    from streaming import job  # pyspark loads only for this command

    job.run(settings, load_config(settings), available_now)
