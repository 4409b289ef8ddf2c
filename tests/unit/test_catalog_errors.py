"""A missing data folder or file, an unknown dataset or option: one line that says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hz45 import catalog
from hz45.errors import ConfigError, DataNotFound
from hz45.settings import get_settings


@pytest.fixture
def data_root_at(monkeypatch):
    def point(path: Path) -> None:
        monkeypatch.setenv("HZ45_DATA__ROOT", str(path))
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


@pytest.mark.parametrize("name", ["ml-100k", "lastfm-2k", "spotify-tracks", "lastfm-spotify"])
def test_missing_data_folder_names_it_and_the_fix(tmp_path, data_root_at, name):
    missing = tmp_path / "nowhere"
    data_root_at(missing)
    with pytest.raises(DataNotFound) as error:
        catalog.load(name)
    line = error.value.line()
    assert f"folder {missing} not found" in line and "HZ45_DATA__ROOT" in line and "\n" not in line


def test_missing_file_is_named(tmp_path, data_root_at):
    (tmp_path / "movielens" / "ml-100k").mkdir(parents=True)
    data_root_at(tmp_path)
    with pytest.raises(DataNotFound, match=r"file .*ml-100k/u\.data not found \(set HZ45_DATA__ROOT"):
        catalog.load("ml-100k")


def test_dummy_needs_no_data_folder(tmp_path, data_root_at):
    data_root_at(tmp_path / "nowhere")
    assert len(catalog.load("dummy", n_events=10).interactions) == 10


def test_unknown_dataset_and_option():
    with pytest.raises(ConfigError, match="unknown dataset 'ml-10m'.*known: ml-100k"):
        catalog.load("ml-10m")
    with pytest.raises(ConfigError, match="unknown option 'n_user' for dataset 'dummy'"):
        catalog.load("dummy", n_user=3)


def test_cli_prints_one_line_and_exits_2(tmp_path):
    env = {**os.environ, "HZ45_DATA__ROOT": str(tmp_path / "nowhere")}
    hz45 = Path(sys.executable).with_name("hz45")
    done = subprocess.run([str(hz45), "data", "show", "ml-100k"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: data: folder {tmp_path / 'nowhere'} not found (set HZ45_DATA__ROOT to the folder that holds "
        "movielens/, lastfm-2k/ and spotify-tracks/)"
    ]


def test_cli_lists_and_shows(tmp_path):
    hz45 = str(Path(sys.executable).with_name("hz45"))
    listed = subprocess.run([hz45, "data", "list"], capture_output=True, text=True, timeout=120, check=True).stdout
    assert [line.split()[0] for line in listed.splitlines()] == catalog.names()
    shown = subprocess.run([hz45, "data", "show", "dummy", "-o", "n_events=77"], capture_output=True, text=True,
                           timeout=120, check=True).stdout
    assert "interactions             77" in shown
    out = tmp_path / "d"
    subprocess.run([hz45, "data", "dummy", "--tracks", "50", "--events", "500", "--out", str(out)],
                   capture_output=True, text=True, timeout=120, check=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "artists.parquet", "events.parquet", "meta.json", "track_latent.parquet", "tracks.parquet",
        "user_latent.parquet", "users.parquet"]
