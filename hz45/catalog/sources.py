"""Where a dataset's source files are, and reading them with a presence check and progress."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from hz45.errors import DataNotFound
from hz45.settings import get_settings

DATA_HINT = "set HZ45_DATA__ROOT to the folder that holds movielens/, lastfm-2k/ and spotify-tracks/"


def data_root() -> Path:
    """The folder of the real datasets: data.root in the configuration (HZ45_DATA__ROOT)."""
    settings = get_settings()
    return settings.path(settings.data.root)


def require(path: Path, hint: str = DATA_HINT) -> Path:
    """The path itself, or DataNotFound naming the first missing folder on the way to it."""
    if path.exists():
        return path
    missing = path
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    what = "folder" if missing != path or not path.suffix else "file"
    raise DataNotFound(f"data: {what} {missing} not found", hint)


class Reader:
    """Reads one load's source files below `root`; each read ticks the load's progress bar."""

    def __init__(self, root: Path, bar: tqdm | None = None, hint: str = DATA_HINT):
        self.root = root
        self.bar = bar
        self.hint = hint

    def path(self, relative: str) -> Path:
        return require(self.root / relative, self.hint)

    def csv(self, relative: str, **options) -> pd.DataFrame:
        frame = pd.read_csv(self.path(relative), **options)
        self.tick(relative)
        return frame

    def text(self, relative: str, encoding: str = "utf-8") -> str:
        content = self.path(relative).read_text(encoding=encoding)
        self.tick(relative)
        return content

    def tick(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=False)
            self.bar.update()
