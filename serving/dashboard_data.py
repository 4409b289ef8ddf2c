"""The listening dashboard's figures: events per minute by type, skip rate, top tracks this hour
and the online figures of each served model version from the recommendation log.

The reads are bounded by time and count, and everything else is computed here in Python, because
the local MongoDB-compatible server (FerretDB 1.x) implements neither date nor arithmetic
operators, `$lookup`, `$facet` nor `$bucket`, and pushes no range filter down to its storage:
what it does run is `$match`, `$sort`, `$limit` and `$project`. So on FerretDB a read scans the
whole collection whatever the filter; on MongoDB the same pipelines use an index on the time
field (`event_time`, `served_at`) where the collection's writer has made one. The dashboard
creates no index itself: FerretDB builds one under a lock that stops every other command, and
the collections belong to the streaming job and the log sink.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import sqlalchemy as sa
from pymongo.collection import Collection
from sqlalchemy.engine import Engine

from hz45.stores.schema import artists, tracks
from streaming.schema import EVENT_TYPES

# The streaming job's live chart table (streaming.sinks), named here rather than imported:
# serving depends on streaming's event schema only.
live_track_plays = sa.table(
    "live_track_plays_hourly", sa.column("hour_start"), sa.column("track_id"), sa.column("plays")
)

# Events that answer a recommended track: the listener played it or skipped it.
RESPONSES = ("play", "skip")


@dataclass(frozen=True)
class Event:
    time: datetime
    type: str
    listener_id: int
    track_id: int


@dataclass(frozen=True)
class ServedList:
    served_at: datetime
    listener_id: int
    items: list[int]
    model_name: str
    model_version: str


def utc(value: datetime) -> datetime:
    """pymongo returns naive datetimes that are UTC; make them comparable with aware ones."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def window_start(now: datetime, minutes: int) -> datetime:
    """The first of `minutes` whole-minute buckets that end with the current (partial) minute."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)


def read_events(collection: Collection, since: datetime, limit: int) -> list[Event]:
    """The newest `limit` events at or after `since` from the raw event log."""
    pipeline = [
        {"$match": {"event_time": {"$gte": since}}},
        {"$sort": {"event_time": -1}},
        {"$limit": limit},
        {"$project": {"_id": 0, "event_time": 1, "type": 1, "listener_id": 1, "track_id": 1}},
    ]
    return [
        Event(utc(d["event_time"]), d["type"], int(d["listener_id"]), int(d["track_id"]))
        for d in collection.aggregate(pipeline)
    ]


def read_lists(collection: Collection, since: datetime, limit: int) -> list[ServedList]:
    """The newest `limit` served lists at or after `since` from the recommendation log."""
    pipeline = [
        {"$match": {"served_at": {"$gte": since}}},
        {"$sort": {"served_at": -1}},
        {"$limit": limit},
        {"$project": {"_id": 0, "served_at": 1, "listener_id": 1, "items": 1, "model_name": 1, "model_version": 1}},
    ]
    return [
        ServedList(
            utc(d["served_at"]),
            int(d["listener_id"]),
            [int(i) for i in d["items"]],
            str(d["model_name"]),
            str(d["model_version"]),
        )
        for d in collection.aggregate(pipeline)
    ]


def per_minute(events: Iterable[Event], start: datetime, minutes: int) -> dict[str, Any]:
    """Counts per minute and event type, and the skip rate per minute (skips among plays and
    skips; null for a minute with neither)."""
    counts = {t: [0] * minutes for t in EVENT_TYPES}
    for e in events:
        slot = int((e.time - start).total_seconds() // 60)
        if 0 <= slot < minutes and e.type in counts:
            counts[e.type][slot] += 1
    skip_rate = [ratio(s, p + s) for p, s in zip(counts["play"], counts["skip"])]
    labels = [(start + timedelta(minutes=i)).strftime("%H:%M") for i in range(minutes)]
    return {"minutes": labels, "counts": counts, "skip_rate": skip_rate}


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def online_figures(
    lists: Iterable[ServedList], events: Iterable[Event], attribution: timedelta
) -> list[dict[str, Any]]:
    """Per model version: of the tracks it recommended, the share the listener then played and
    the share they skipped within `attribution` after the list was served. A track counts by the
    listener's first play or skip of it in that window, so the two shares never overlap."""
    answers: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for e in events:
        if e.type in RESPONSES:
            answers[(e.listener_id, e.track_id)].append(e)
    for found in answers.values():
        found.sort(key=lambda e: e.time)

    totals: dict[tuple[str, str], dict[str, int]] = {}
    for served in lists:
        row = totals.setdefault(
            (served.model_name, served.model_version), {"lists": 0, "tracks": 0, "play": 0, "skip": 0}
        )
        row["lists"] += 1
        end = served.served_at + attribution
        for track in served.items:
            row["tracks"] += 1
            first = next(
                (e for e in answers.get((served.listener_id, track), ()) if served.served_at < e.time <= end), None
            )
            if first is not None:
                row[first.type] += 1
    rows = [
        {
            "model_name": name,
            "model_version": version,
            "lists": t["lists"],
            "tracks": t["tracks"],
            "played": t["play"],
            "skipped": t["skip"],
            "played_share": ratio(t["play"], t["tracks"]),
            "skipped_share": ratio(t["skip"], t["tracks"]),
        }
        for (name, version), t in totals.items()
    ]
    return sorted(rows, key=lambda r: (r["model_name"], _version_key(r["model_version"])), reverse=True)


def _version_key(version: str) -> tuple[int, str]:
    # Registry versions are numbers; "10" is newer than "9".
    return (int(version), "") if version.isdigit() else (-1, version)


def top_tracks(engine: Engine, hour_start: datetime, limit: int) -> list[dict[str, Any]] | None:
    """The most played tracks of the hour from the streaming job's live charts, with title and
    artist where the main DB knows the track; None while the streaming job has made no chart."""
    present = set(sa.inspect(engine).get_table_names())
    if live_track_plays.name not in present:
        return None
    p = live_track_plays.c
    columns = [p.track_id, p.plays]
    source = live_track_plays
    if tracks.name in present:
        columns.append(tracks.c.title)
        source = source.outerjoin(tracks, tracks.c.track_id == p.track_id)
        if artists.name in present:
            columns.append(artists.c.name.label("artist"))
            source = source.outerjoin(artists, artists.c.artist_id == tracks.c.artist_id)
    # The main DB stores naive UTC times (hz45.stores.schema).
    hour = hour_start.astimezone(timezone.utc).replace(tzinfo=None)
    query = (
        sa.select(*columns)
        .select_from(source)
        .where(p.hour_start == hour)
        .order_by(p.plays.desc(), p.track_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {"track_id": int(r["track_id"]), "plays": int(r["plays"]), "title": r.get("title"), "artist": r.get("artist")}
        for r in rows
    ]


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """Metrics that JSON can carry (a NaN from a failed evaluation is left out), sorted by name."""
    return {k: float(v) for k, v in sorted(metrics.items()) if isinstance(v, (int, float)) and math.isfinite(v)}
