"""The loader of official MovieLens archives: the 100K layout on the shared files, the 1M layout
on a few lines in its format."""

from __future__ import annotations

import pandas as pd
import pytest

from hz45 import catalog
from hz45.catalog.frames import check
from hz45.catalog.sources import data_root
from hz45.errors import ConfigError, DataNotFound


def test_100k_archive_reads_like_the_catalog_entry():
    archive = catalog.load("movielens", path=data_root() / "movielens" / "ml-100k", cache_results=False)
    shipped = catalog.load("ml-100k")
    assert archive.name == "ml-100k"
    for frame in ("interactions", "items", "users"):
        pd.testing.assert_frame_equal(getattr(archive, frame), getattr(shipped, frame))


def test_1m_archive_is_parsed(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "3456::Misérables, Les (1995)::Drama|Musical\n".encode("ISO-8859-1")
    )
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    ml = catalog.load("movielens", path=tmp_path, cache_results=False)
    check(ml)
    assert ml.name == "ml-1m"
    inter = ml.interactions
    assert inter[["user_id", "item_id", "value"]].values.tolist() == [[1, 1193, 5], [1, 661, 3], [2, 1193, 4]]
    assert inter["timestamp"].iloc[0] == pd.Timestamp(978300760, unit="s", tz="UTC")
    items = ml.items.set_index("item_id")
    assert items.loc[661, "genres"] == ["Animation", "Children's", "Musical"]
    assert items.loc[661, "genre"] == "Animation"
    assert items.loc[1193, "release_year"] == 1975
    assert items.loc[3456, "title"] == "Misérables, Les (1995)"
    users = ml.users.set_index("user_id")
    assert users.loc[1, "occupation"] == "K-12 student" and users.loc[2, "occupation"] == "self-employed"
    assert users.loc[1, "zip_code"] == "48067" and users.loc[2, "age"] == 56 and users.loc[1, "gender"] == "F"


def test_folder_without_an_archive_says_what_to_pass(tmp_path):
    with pytest.raises(DataNotFound, match="no MovieLens archive in .*pass path="):
        catalog.load("movielens", path=tmp_path)
    with pytest.raises(ConfigError, match="needs the option path"):
        catalog.load("movielens")
