"""The core's own sub-commands: `hz45 db ...` and `hz45 services ...`."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="The main database: create the schema, load a dataset.", no_args_is_help=True)
services_app = typer.Typer(help="The local servers (MariaDB, Kafka, MongoDB-compatible).", no_args_is_help=True)

ServiceNames = typer.Argument(None, help="mariadb, kafka, postgres, mongo (all when none is given)")


def _print_states(states) -> None:
    for s in states:
        took = f" in {s.seconds:.1f}s" if s.seconds >= 0.05 else ""
        pid = f" pid {s.pid}" if s.pid else ""
        typer.echo(f"{s.name:8} {s.address:16} {s.detail}{took}{pid}")


@services_app.command("up")
def services_up(names: list[str] = ServiceNames) -> None:
    """Start the servers (a no-op for those already running) and wait until they answer."""
    from hz45 import services

    _print_states(services.up(names or None))


@services_app.command("down")
def services_down(names: list[str] = ServiceNames) -> None:
    """Stop the servers started from this run folder."""
    from hz45 import services

    _print_states(services.down(names or None))


@services_app.command("status")
def services_status(names: list[str] = ServiceNames) -> None:
    """Show which servers run and answer; exits 1 when any is down."""
    from hz45 import services

    states = services.status(names or None)
    _print_states(states)
    if not all(s.running and s.detail == "healthy" for s in states):
        raise typer.Exit(1)


@db_app.command("init")
def db_init() -> None:
    """Create the main DB's tables and indexes (those that exist are left alone)."""
    from hz45.stores.schema import init_db
    from hz45.stores.sql import display_url, get_engine

    engine = get_engine()
    created = init_db(engine)
    typer.echo(f"{display_url(engine.url)}: " + (f"created {', '.join(created)}" if created else "schema up to date"))


@db_app.command("load")
def db_load(
    dataset: str = typer.Argument(..., help="a catalog dataset: ml-100k, lastfm-2k, spotify-tracks, lastfm-spotify, dummy"),
    limit: int = typer.Option(None, "--limit", min=1, help="keep the N earliest interactions and what they reference"),
    replace: bool = typer.Option(False, "--replace", help="clear the tables first (they hold one dataset at a time)"),
) -> None:
    """Load a dataset into the main DB; loading it again adds no duplicates."""
    from hz45 import catalog
    from hz45.stores.load import load_dataset
    from hz45.stores.sql import display_url, get_engine

    engine = get_engine()
    summary = load_dataset(catalog.load(dataset), engine, limit=limit, replace=replace)
    typer.echo(f"loaded {summary.dataset} into {display_url(engine.url)} in {summary.seconds:.1f}s")
    for table, count in summary.counts.items():
        typer.echo(f"  {table:16} {summary.written.get(table, 0):>10,} written {count:>10,} in table")


def demo_command(
    small: bool = typer.Option(False, "--small", help="the e2e test's sizes: fewer trials, fewer events"),
    keep_running: bool = typer.Option(False, "--keep-running", help="leave serving, streaming and the MLflow UI up"),
) -> None:
    """The whole loop on this machine: servers, data, features, sweeps, promotion, serving, streaming."""
    from hz45.demo import DemoPlan, run_demo

    run_demo(DemoPlan.small() if small else DemoPlan(), keep_running=keep_running)
