"""The loaders of the real datasets in the shared data folder: published counts and contracts."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from hz45 import catalog
from hz45.catalog.base import AUDIO_FEATURES
from hz45.catalog.frames import check


# Each dataset is loaded once for the module (and from the Parquet cache after the first run).
loaded = functools.cache(catalog.load)


def test_ml100k_has_the_published_counts():
    ml100k = loaded("ml-100k")
    check(ml100k)
    assert len(ml100k.interactions) == 100_000
    assert ml100k.interactions["user_id"].nunique() == 943
    assert len(ml100k.users) == 943
    assert len(ml100k.items) == 1_682
    assert ml100k.interactions["item_id"].nunique() == 1_682
    # The rating histogram GroupLens ships (1..5).
    assert ml100k.interactions["value"].value_counts().sort_index().tolist() == [6110, 11370, 27145, 34174, 21201]
    assert set(ml100k.interactions["event_type"]) == {"rating"}


def test_ml100k_items_users_and_times():
    ml100k = loaded("ml-100k")
    items = ml100k.items.set_index("item_id")
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert items.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[1, "genre"] == "Animation"
    assert items.loc[1, "release_year"] == 1995
    # ISO-8859-1 titles decode to their accented letters.
    assert items["title"].str.contains("é").any()
    assert items["genres"].map(len).min() >= 1
    assert items["release_year"].isna().sum() == 1  # one item has no release date in u.item
    users = ml100k.users.set_index("user_id")
    assert users.loc[1, ["age", "gender", "occupation", "zip_code"]].tolist() == [24, "M", "technician", "85711"]
    times = ml100k.interactions["timestamp"]
    assert times.min() >= pd.Timestamp("1997-09-01", tz="UTC") and times.max() < pd.Timestamp("1998-05-01", tz="UTC")


def test_lastfm_has_the_published_counts():
    lastfm = loaded("lastfm-2k")
    check(lastfm)
    plays = lastfm.interactions
    assert len(plays) == 92_834
    assert plays["user_id"].nunique() == 1_892
    assert plays["item_id"].nunique() == 17_632
    assert len(lastfm.artists) == 17_632
    assert len(lastfm.items) == 17_632
    assert (plays["event_type"] == "play").all()
    assert plays["value"].min() == 1 and plays["value"].max() == 352_698
    assert len(lastfm.extras["tags"]) == 11_946
    assert len(lastfm.extras["tagged"]) == 186_479
    assert len(lastfm.extras["friends"]) == 25_434


def test_lastfm_tags_have_dates_and_plays_the_snapshot_time():
    lastfm = loaded("lastfm-2k")
    tagged = lastfm.extras["tagged"]
    assert str(tagged["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert tagged["timestamp"].max() == pd.Timestamp("2011-05-09", tz="UTC")
    assert (lastfm.interactions["timestamp"] == pd.Timestamp("2011-05-10", tz="UTC")).all()
    artists = lastfm.items.set_index("title")
    assert "metal" in " ".join(artists.loc["Metallica", "genres"])


def test_spotify_tables_are_unified_with_duplicates_merged():
    tracks = loaded("spotify-tracks")
    check(tracks)
    items = tracks.items
    assert items["spotify_id"].is_unique
    assert tracks.notes["rows_read"] == 4_831 + 41_106
    # 4,495 distinct ids in one table, 40,560 in the other, some in both.
    both = tracks.notes["tracks_in_both_tables"]
    assert len(items) == 4_495 + 40_560 - both
    assert both > 0
    assert tracks.notes["duplicates_merged"] == tracks.notes["rows_read"] - len(items)
    merged = items[items["sources"].str.contains("+", regex=False)].iloc[0]
    # A track in both tables keeps the 2024 table's genre and popularity and the hit flag.
    assert merged["genre"] != "" and not np.isnan(merged["popularity"]) and not pd.isna(merged["is_hit"])
    assert items["genres"].map(len).max() > 1  # found in playlists of several genres
    assert items[list(AUDIO_FEATURES)].notna().all(axis=1).mean() > 0.999
    assert items["release_year"].dropna().between(1900, 2025).all()


def test_multi_artist_credits_are_split():
    tracks = loaded("spotify-tracks")
    items = tracks.items
    duet = items[items["artist_name"] == "Lady Gaga, Bruno Mars"].iloc[0]
    assert duet["artist_names"] == ["Lady Gaga", "Bruno Mars"]
    featuring = items[items["artist_name"].str.contains(" Featuring ")].iloc[0]
    assert len(featuring["artist_names"]) >= 2


def test_music_dataset_join_rate():
    music = loaded("lastfm-spotify")
    check(music)
    notes = music.notes
    assert 3_000 <= notes["artists_matched"] <= 3_600  # the data README finds 3,432 names
    assert 0.15 < notes["artist_match_rate"] < 0.25
    assert notes["user_match_rate"] > 0.95
    assert 0.5 < notes["play_weight_kept"] < 0.9
    assert notes["users_with_match"] == music.interactions["user_id"].nunique()


def test_music_dataset_keeps_whole_credits_that_are_artists():
    music = loaded("lastfm-spotify")
    artists = music.artists.set_index("name")["artist_id"]
    links = music.extras["track_artists"]
    credited_ewf = music.items.loc[music.items["artist_name"] == "Earth, Wind & Fire", "item_id"]
    assert len(credited_ewf)
    linked = links[links["item_id"].isin(credited_ewf)]["artist_id"]
    assert set(linked) == {artists["Earth, Wind & Fire"]}


def test_music_events_follow_the_users_real_artists():
    music = loaded("lastfm-spotify")
    events = music.interactions
    assert set(events["event_type"]) == {"play", "skip", "like", "dislike"}
    share = events["event_type"].value_counts(normalize=True)
    assert 0.2 < share["skip"] < 0.5 and share["like"] > 0.02 and share["dislike"] > 0.01
    pairs = events.rename_axis("event").reset_index().merge(music.extras["track_artists"], on="item_id")
    played = set(zip(music.extras["user_artists"]["user_id"], music.extras["user_artists"]["artist_id"]))
    hit = pd.Series([p in played for p in zip(pairs["user_id"], pairs["artist_id"])])
    # Every event's track is by one of the user's artists (a collaboration may add others).
    by_event = hit.groupby(pairs["event"].to_numpy()).any()
    assert len(by_event) == len(events) and by_event.all()
    assert events["timestamp"].is_monotonic_increasing
    assert events["timestamp"].min() >= pd.Timestamp("2025-01-01", tz="UTC")


def test_music_dataset_is_deterministic_by_seed():
    first = catalog.load("lastfm-spotify", users=150, seed=7, cache_results=False)
    again = catalog.load("lastfm-spotify", users=150, seed=7, cache_results=False)
    other = catalog.load("lastfm-spotify", users=150, seed=8, cache_results=False)
    pd.testing.assert_frame_equal(first.interactions, again.interactions)
    assert not first.interactions.equals(other.interactions)
    assert first.interactions["user_id"].nunique() <= 150


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    from hz45.settings import get_settings

    monkeypatch.setenv("HZ45_DATA__CACHE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        fresh = catalog.load("lastfm-spotify", users=50, events_per_user=10)
        entries = list((tmp_path / "catalog").iterdir())
        assert len(entries) == 1 and (entries[0] / "items.parquet").exists()
        cached = catalog.load("lastfm-spotify", users=50, events_per_user=10)
        for frame in ("interactions", "items", "users", "artists"):
            pd.testing.assert_frame_equal(getattr(fresh, frame), getattr(cached, frame))
        assert cached.notes == fresh.notes
        catalog.load("lastfm-spotify", users=50, events_per_user=11)
        assert len(list((tmp_path / "catalog").iterdir())) == 2  # other options, other entry
    finally:
        get_settings.cache_clear()
