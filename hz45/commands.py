"""The core's own sub-commands: `hz45 db ...` and `hz45 services ...`."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="The main database: create the schema, load a dataset.", no_args_is_help=True)
services_app = typer.Typer(help="The local servers (MariaDB, Kafka, MongoDB-compatible).", no_args_is_help=True)
