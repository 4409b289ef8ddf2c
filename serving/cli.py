"""`hz45 serve`: run the recommendation service locally, or write its Serve config."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from hz45.settings import get_settings

app = typer.Typer(
    help="The recommendation HTTP service on Ray Serve (run with no sub-command to start it).",
    invoke_without_command=True,
    add_completion=False,
)


@app.callback()
def serve(ctx: typer.Context) -> None:
    """Start the service on the configured host and port and keep it up until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from ray import serve as ray_serve

    from serving.app import start_local

    url = start_local(get_settings())
    typer.echo(f"serving on {url} (API docs at {url}/docs); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        ray_serve.shutdown()


@app.command("config")
def write_config(
    output: Path = typer.Option(Path("configs/serve.yaml"), help="where to write the Serve config"),
) -> None:
    """Write the Serve config (for `serve deploy` onto an existing cluster) from the settings."""
    from serving.app import serve_yaml

    settings = get_settings()
    target = settings.path(output)
    target.write_text(serve_yaml(settings))
    typer.echo(f"wrote {target}")
