"""ingest_interactions on MovieLens-100K into a SQLite main DB: windows by high-water mark, reruns
that change nothing, and refusals that name the problem."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from hz45 import catalog
from hz45.errors import Hz45Error
from hz45.ingest.interactions import ingest_interactions, newest_interaction
from hz45.stores.load import load_dataset
from hz45.stores.sql import get_engine

APRIL = datetime(1998, 4, 1, tzinfo=timezone.utc)
MAY = datetime(1998, 5, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return catalog.load("ml-100k").interactions


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path / 'main.db'}")


def keys(engine) -> set[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT user_id, track_id, timestamp FROM interactions")).all()
    return {(u, t, pd.Timestamp(ts).tz_localize("UTC")) for u, t, ts in rows}


def test_windows_follow_the_newest_interaction_held(engine, ratings):
    before_april = ratings[ratings["timestamp"] < pd.Timestamp(APRIL)]
    first = ingest_interactions("ml-100k", APRIL, engine)
    assert first.notes["since"] is None
    assert first.counts["interactions"] == len(before_april)
    assert first.counts["users"] == before_april["user_id"].nunique()
    assert first.counts["tracks"] == before_april["item_id"].nunique()
    assert newest_interaction(engine) == before_april["timestamp"].max()

    again = ingest_interactions("ml-100k", APRIL, engine)
    # Only the rows at the high-water mark are read again; the tables stay as they were.
    assert again.notes["interactions"] == (before_april["timestamp"] == before_april["timestamp"].max()).sum()
    assert again.counts == first.counts

    rest = ingest_interactions("ml-100k", MAY, engine)
    assert rest.counts["interactions"] == len(ratings)
    assert keys(engine) == set(zip(ratings["user_id"], ratings["item_id"], ratings["timestamp"]))


def test_a_time_without_zone_is_refused(engine):
    with pytest.raises(Hz45Error, match="has no time zone"):
        ingest_interactions("ml-100k", datetime(1998, 4, 1), engine)


def test_a_main_db_holding_another_dataset_is_refused(engine):
    load_dataset(catalog.load("dummy"), engine, limit=50, progress=False)
    with pytest.raises(Hz45Error, match="already holds dataset 'dummy'"):
        ingest_interactions("ml-100k", APRIL, engine)
