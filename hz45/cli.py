"""The `hz45` command. The core owns `db` and `services`; every stage package adds its own
sub-command through the `hz45.commands` entry-point group, so the core never imports them."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from hz45.errors import Hz45Error
from hz45.loopback import keep_local_runs_on_loopback
from hz45.settings import get_settings

app = typer.Typer(help="4.5HZ music recommendation platform.", no_args_is_help=True, add_completion=False)


def _register_stage_commands() -> None:
    for ep in sorted(entry_points(group="hz45.commands"), key=lambda e: e.name):
        app.add_typer(ep.load(), name=ep.name)


def _register_core_commands() -> None:
    from hz45.commands import db_app, demo_command, services_app

    app.command("demo")(demo_command)
    app.add_typer(db_app, name="db")
    app.add_typer(services_app, name="services")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; usage errors are handled by typer (exit 2), user errors print one line."""
    try:
        keep_local_runs_on_loopback(get_settings())
        _register_core_commands()
        _register_stage_commands()
        app(args=argv, prog_name="hz45")
    except Hz45Error as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
