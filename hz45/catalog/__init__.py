"""The dataset catalog: `load(name, **options)` returns a canonical `Dataset`.

Real data is read from the data root (data.root in the configuration, HZ45_DATA__ROOT in the
environment). Loads that read files are cached as Parquet under data.cache_dir, keyed by the
source files' checksums and the options, so only the first load of a dataset pays for parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from hz45.catalog import cache, dummy, lastfm, lastfm_spotify, movielens, spotify
from hz45.catalog.base import AUDIO_FEATURES, EVENT_TYPES, Dataset
from hz45.catalog.sources import DATA_HINT, Reader, data_root, require
from hz45.errors import ConfigError
from hz45.settings import get_settings

__all__ = ["AUDIO_FEATURES", "EVENT_TYPES", "Dataset", "data_root", "describe", "load", "names", "write_dummy"]

write_dummy = dummy.write_dummy


@dataclass(frozen=True)
class Entry:
    description: str
    build: Callable[..., Dataset]  # build(reader, **options)
    # The source files, relative to the folder the load reads from (empty: nothing to read).
    files: Callable[[Path], tuple[str, ...]] = lambda folder: ()
    # The options the loader takes, with their defaults (resolved here, so the cache key sees them).
    defaults: Callable[[], dict[str, Any]] = dict
    # The folder read from, given the options; None: the data root.
    folder: Callable[..., Path] | None = None
    hint: str = DATA_HINT


MOVIELENS_HINT = "pass path= the unpacked ml-100k or ml-1m folder"


def _movielens_folder(path: str | Path | None) -> Path:
    if path is None:
        raise ConfigError("data: dataset 'movielens' needs the option path", MOVIELENS_HINT)
    return Path(path).expanduser().resolve()


CATALOG: dict[str, Entry] = {
    "ml-100k": Entry(
        "MovieLens 100K: 100,000 ratings 1..5 of 1,682 movies by 943 users, with genres",
        movielens.load_ml100k,
        lambda folder: tuple(f"{movielens.ML_100K_FOLDER}/{f}" for f in movielens.LAYOUT_100K),
    ),
    "movielens": Entry(
        "an official MovieLens archive you have (100K u.data or 1M ratings.dat layout): path=FOLDER",
        lambda reader, path: movielens.load_archive(reader),
        lambda folder: movielens.layout(require(folder, MOVIELENS_HINT)),
        defaults=lambda: {"path": None},
        folder=_movielens_folder,
        hint=MOVIELENS_HINT,
    ),
    "lastfm-2k": Entry(
        "Last.fm hetrec2011: 92,834 user-artist play counts, 1,892 users, 17,632 artists, tags, friends",
        lastfm.load,
        lambda folder: tuple(f"{lastfm.FOLDER}/{f}" for f in lastfm.FILES),
    ),
    "spotify-tracks": Entry(
        "both real Spotify track tables unified by Spotify id, with audio features",
        spotify.load,
        lambda folder: tuple(f"{spotify.FOLDER}/{f}" for f in spotify.FILES),
    ),
    "lastfm-spotify": Entry(
        "the music dataset: Last.fm users' artist tastes joined with Spotify tracks, sampled plays",
        lastfm_spotify.load,
        lambda folder: tuple(f"{lastfm.FOLDER}/{f}" for f in lastfm.FILES)
        + tuple(f"{spotify.FOLDER}/{f}" for f in spotify.FILES),
        defaults=lastfm_spotify.defaults,
    ),
    "dummy": Entry(
        "generated: users, artists, tracks and events from a latent-taste model, deterministic by seed",
        lambda reader, **options: dummy.load(**options),
        defaults=dummy.defaults,
    ),
}


def names() -> list[str]:
    return list(CATALOG)


def describe(name: str) -> str:
    return _entry(name).description


def load(name: str, *, cache_results: bool = True, **options: Any) -> Dataset:
    """The dataset `name`; options are those of its loader (see docs/datasets.md)."""
    entry = _entry(name)
    defaults = entry.defaults()
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ConfigError(f"data: unknown option '{unknown[0]}' for dataset '{name}'",
                          f"options: {', '.join(defaults) or 'none'}")
    options = {**defaults, **options}
    folder = entry.folder(**options) if entry.folder else data_root()
    files = entry.files(folder)
    if not files:
        return entry.build(Reader(folder, hint=entry.hint), **options)
    require(folder, entry.hint)
    paths = [require(folder / f, entry.hint) for f in files]

    settings = get_settings()
    entry_dir = settings.path(settings.data.cache_dir) / "catalog" / f"{name}-{cache.key(name, options, paths)}"
    if cache_results:
        cached = cache.read(entry_dir)
        if cached is not None:
            return cached
    with tqdm(total=len(files), desc=f"load {name}", unit="file", disable=None, leave=False) as bar:
        dataset = entry.build(Reader(folder, bar, entry.hint), **options)
    if cache_results:
        cache.write(dataset, entry_dir)
    return dataset


def _entry(name: str) -> Entry:
    if name not in CATALOG:
        raise ConfigError(f"data: unknown dataset '{name}'", f"known: {', '.join(CATALOG)}")
    return CATALOG[name]
