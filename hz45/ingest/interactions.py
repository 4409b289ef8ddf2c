"""New interactions of a catalog dataset -> the main DB, by high-water mark.

A scheduled run loads the dataset's interactions from the newest one the main DB already holds
up to the end of its interval, with the listeners, tracks and artists they name. Rows at the
high-water mark itself are loaded again, which the idempotent upsert makes harmless, so a
retried or repeated run changes nothing and a run that was missed is caught up by the next.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hz45 import catalog
from hz45.errors import Hz45Error
from hz45.stores import schema
from hz45.stores.load import LoadSummary, load_dataset
from hz45.stores.sql import get_engine


def newest_interaction(engine: Engine) -> datetime | None:
    """The time of the newest interaction in the main DB (UTC), None when it holds none."""
    schema.init_db(engine)
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(schema.interactions.c.timestamp))).scalar_one()
    if newest is None:
        return None
    # SQLite hands DATETIME back as text; both backends store naive UTC.
    return pd.Timestamp(newest).tz_localize(None).tz_localize(timezone.utc).to_pydatetime()


def ingest_interactions(dataset: str, until: datetime, engine: Engine | None = None) -> LoadSummary:
    """Load `dataset`'s interactions before `until` that are not older than the newest one the
    main DB holds; `notes` of the summary say which window was read."""
    if until.tzinfo is None:
        raise Hz45Error(f"ingest: until={until.isoformat()} has no time zone", "pass an aware UTC time")
    engine = engine or get_engine()
    since = newest_interaction(engine)
    data = catalog.load(dataset)
    times = data.interactions["timestamp"]
    window = times < pd.Timestamp(until)
    if since is not None:
        window &= times >= pd.Timestamp(since)
    new = dataclasses.replace(data, interactions=data.interactions[window])
    # The limit keeps only the listeners, tracks and artists the window's interactions name.
    summary = load_dataset(new, engine, limit=int(window.sum()), progress=False)
    summary.notes = {"since": since.isoformat() if since else None, "until": until.isoformat(),
                     "interactions": int(window.sum())}
    return summary
