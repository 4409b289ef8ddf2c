"""Broken records for testing the dead-letter path: each one breaks the event schema in one way.

Every kind is derived from a real event so that it looks like what a buggy client would send,
and `validate_event` rejects every one of them (the unit tests check this).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from streaming.schema import Event


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _without(field: str) -> Callable[[dict[str, Any]], bytes]:
    return lambda doc: _dump({k: v for k, v in doc.items() if k != field})


def _with(field: str, value: Any) -> Callable[[dict[str, Any]], bytes]:
    return lambda doc: _dump({**doc, field: value})


# name -> (the field the validator must name, how to break an event's JSON object)
KINDS: dict[str, tuple[str, Callable[[dict[str, Any]], bytes]]] = {
    "not_json": ("payload", lambda doc: b"play " + str(doc["track_id"]).encode()),
    "truncated": ("payload", lambda doc: _dump(doc)[:-7]),
    "not_object": ("payload", lambda doc: _dump([doc])),
    "missing_listener": ("listener_id", _without("listener_id")),
    "listener_as_text": ("listener_id", lambda doc: _dump({**doc, "listener_id": str(doc["listener_id"])})),
    "unknown_type": ("type", _with("type", "rewind")),
    "negative_ms_played": ("ms_played", _with("ms_played", -1)),
    "seconds_timestamp": ("timestamp", lambda doc: _dump({**doc, "timestamp": doc["timestamp"] / 1000})),
    "future_version": ("schema_version", _with("schema_version", 99)),
    "bad_event_id": ("event_id", lambda doc: _dump({**doc, "event_id": doc["event_id"] + " #"})),
}


def malformed(event: Event, index: int) -> tuple[str, str, bytes]:
    """(kind, field the validator names, payload) of the index-th malformed record, cycling
    through KINDS, made from a valid event."""
    kind = list(KINDS)[index % len(KINDS)]
    field, breaker = KINDS[kind]
    return kind, field, breaker(event.model_dump())
