"""The core's own sub-commands: `hz45 db ...` and `hz45 services ...`."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="The main database: create the schema, load a dataset.", no_args_is_help=True)
services_app = typer.Typer(help="The local servers (MariaDB, Kafka, MongoDB-compatible).", no_args_is_help=True)

ServiceNames = typer.Argument(None, help="mariadb, kafka, mongo (all when none is given)")


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
