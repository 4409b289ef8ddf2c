"""Where the streaming job writes, each write safe to repeat.

Spark may run a micro-batch a second time after a crash (its output was written, its commit was
not), so every sink is idempotent for a repeated batch:
- raw event log and listener features (MongoDB): copied from their topics (streaming.copies),
  by `_id` = event id (an id already there is left as it is) and `_id` = listener id (the whole
  document replaced);
- feature topic (compacted Kafka): the same update again, and compaction keeps the latest;
- live charts (main DB): plays added once per (checkpoint, batch), recorded in a ledger table in
  the same transaction as the counts.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pymongo.collection import Collection
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Engine

from hz45.stores.schema import Timestamp
from streaming.schema import FIELDS

metadata = sa.MetaData()

# Plays per track and hour of event time, counted by the streaming job (the batch feature jobs
# write their own charts per run date).
live_track_plays = sa.Table(
    "live_track_plays_hourly",
    metadata,
    sa.Column("hour_start", Timestamp, primary_key=True),
    sa.Column("track_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("plays", sa.BigInteger, nullable=False),
)

# Micro-batches already added to the charts, per streaming query (its checkpoint's id).
applied_batches = sa.Table(
    "live_chart_batches",
    metadata,
    sa.Column("query_id", sa.String(64), primary_key=True),
    sa.Column("batch_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("applied_at", Timestamp, nullable=False),
)


def event_document(row: dict[str, Any]) -> dict[str, Any]:
    """The raw log's document of an event: its fields, `_id` the event id, and `event_time` as a
    BSON date so the log can be queried (and expired) by time."""
    doc = {name: row[name] for name in FIELDS}
    doc["_id"] = doc["event_id"]
    doc["event_time"] = datetime.fromtimestamp(doc["timestamp"] / 1000, tz=timezone.utc)
    return doc


def replace_documents(collection: Collection, docs: list[dict[str, Any]]) -> None:
    """Replace the documents with these `_id`s (inserting those that are new).

    One delete and one bulk insert rather than an upsert per document: on FerretDB's SQLite
    backend each upsert costs tens of milliseconds (a 500-document batch of upserts took 19 s
    there, the delete and insert of 200 documents 0.5 s). A reader may miss a document for the
    moment between the two; serving reads the feature topic, not this collection.
    """
    if docs:
        collection.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        collection.insert_many(docs, ordered=False)


def checkpoint_id(folder: Path) -> str:
    """The id Spark gave the query whose checkpoint is `folder` (kept across restarts)."""
    return json.loads((folder / "metadata").read_text().splitlines()[0])["id"]


def add_chart_plays(engine: Engine, query_id: str, batch_id: int, counts: pd.DataFrame) -> bool:
    """Add a batch's plays (columns hour_start in epoch ms, track_id, plays) to the live charts
    unless this batch of this query was added before. Returns whether it was added now."""
    key = (applied_batches.c.query_id == query_id) & (applied_batches.c.batch_id == batch_id)
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(applied_batches).where(key)).scalar():
            return False
        conn.execute(applied_batches.insert().values(
            query_id=query_id, batch_id=batch_id, applied_at=_naive_utc(datetime.now(timezone.utc).timestamp() * 1000)
        ))
        if len(counts):
            rows = [
                {"hour_start": _naive_utc(h), "track_id": int(t), "plays": int(n)}
                for h, t, n in zip(counts["hour_start"], counts["track_id"], counts["plays"])
            ]
            conn.execute(_add_plays(engine.dialect.name), rows)
    return True


def _naive_utc(epoch_ms: int) -> datetime:
    """How the main DB stores times (see hz45.stores.schema)."""
    return datetime.fromtimestamp(int(epoch_ms) / 1000, tz=timezone.utc).replace(tzinfo=None)


def _add_plays(dialect: str):
    table = live_track_plays
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        return stmt.on_duplicate_key_update(plays=table.c.plays + stmt.inserted.plays)
    stmt = sqlite.insert(table)
    return stmt.on_conflict_do_update(index_elements=["hour_start", "track_id"],
                                      set_={"plays": table.c.plays + stmt.excluded.plays})
