"""`hz45 ingest ...`: bring a source's data into the main DB."""

from __future__ import annotations

import typer


app = typer.Typer(no_args_is_help=True)


@app.callback()
def ingest() -> None:
    """Ingest sources into the main DB."""
    # The callback makes `ingest` a group, so that `spotify` stays a sub-command.


@app.command()
def spotify(
    genre: str = typer.Option(..., help='a Spotify genre, searched as genre:"GENRE" (e.g. k-pop)'),
    # The range is checked by ingest_spotify, whose error the CLI prints on one line.
    artists: int = typer.Option(50, help="how many artists of the genre (at most the search API's paging limit)"),
) -> None:
    """Artists of a genre, their top tracks and audio features, from the Spotify Web API.

    Credentials: SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET. A rerun adds no duplicates.
    """
    from hz45.ingest.spotify import ingest_spotify  # pandas and spotipy load only when used

    report = ingest_spotify(genre, artists)
    typer.echo(
        f"{report.genre}: {report.artists} artists, {report.tracks} tracks "
        f"({report.new_artists} artists and {report.new_tracks} tracks new to the main DB)"
    )
    typer.echo(
        f"audio features: {report.features_from_api} from the API, {report.filled_by_id} filled by Spotify id, "
        f"{report.filled_by_name} by title and artist, {report.flagged} flagged missing"
    )
    if report.closed_endpoints:
        typer.echo(f"closed to this app: {', '.join(report.closed_endpoints)}")
