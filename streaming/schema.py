"""The listener event: one versioned schema and the one function that validates it.

Every path that accepts an event calls `validate_event`: the replay producer, the serving app's
`POST /events`, and the streaming job (inside Spark, through `mapInArrow` over the same function),
so the three can never disagree on what a valid event is.

Wire format: a UTF-8 JSON object, for example
    {"schema_version": 1, "event_id": "e-1", "listener_id": 7, "track_id": 42, "type": "play",
     "timestamp": 1717236000000, "ms_played": 180000, "session_id": "s-7-1", "client": "web"}
`timestamp` is epoch milliseconds UTC. Types are strict (no "7" for 7, no 7.0, no true), keys
must be unique, and keys the schema does not know are ignored so a newer producer can add
optional fields without breaking older readers; changing a field's meaning needs a new version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from hz45.errors import Hz45Error

SCHEMA_VERSION = 1
EventType = Literal["play", "skip", "like", "dislike"]
EVENT_TYPES = get_args(EventType)
INT64_MAX = 2**63 - 1
# 2100-01-01: a sanity bound that catches seconds-for-milliseconds and garbage, not clock skew.
MAX_TIMESTAMP_MS = 4_102_444_800_000
MAX_MS_PLAYED = 86_400_000
# The field that names a failure of the record as a whole (not JSON, not an object, ...).
PAYLOAD = "payload"



def _supported_version(version: int) -> int:
    if version != SCHEMA_VERSION:
        raise ValueError(f"unsupported version {version} (this reader knows {SCHEMA_VERSION})")
    return version


Id = Annotated[int, Field(ge=0, le=INT64_MAX)]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


class Event(BaseModel):
    """One listener event, schema version 1."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    # A strict int, not Literal[1]: the literal would accept `true`, which equals 1 in Python.
    schema_version: Annotated[int, AfterValidator(_supported_version)]
    event_id: Token
    listener_id: Id
    track_id: Id
    type: EventType
    timestamp: Annotated[int, Field(ge=0, le=MAX_TIMESTAMP_MS)]
    ms_played: Annotated[int, Field(ge=0, le=MAX_MS_PLAYED)]
    session_id: Token
    client: Annotated[str, Field(pattern=r"^[a-z0-9._-]{1,32}$")]

    @property
    def event_time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp / 1000, tz=timezone.utc)

    def key(self) -> bytes:
        """The Kafka record key: events of one listener stay in one partition, in order."""
        return str(self.listener_id).encode()

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(), separators=(",", ":")).encode()


FIELDS = tuple(Event.model_fields)


class InvalidEvent(Hz45Error):
    """An event that breaks the schema; `field` names the first offending field."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"invalid event: {field}: {reason}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidEvent(key, "duplicate key")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise InvalidEvent(PAYLOAD, f"{name} is not valid JSON")


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON: one value, unique keys, no NaN/Infinity."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise InvalidEvent(PAYLOAD, "not UTF-8") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidEvent(PAYLOAD, f"not JSON: {exc}") from None


def validate_event(raw: bytes | str | Mapping[str, Any] | None) -> Event:
    """The event in `raw` (a JSON record or an already parsed object), or InvalidEvent naming
    the first field, in schema order, that is missing or wrong."""
    if raw is None:
        raise InvalidEvent(PAYLOAD, "empty record")
    obj = raw if isinstance(raw, Mapping) else parse_json(raw)
    if not isinstance(obj, Mapping):
        raise InvalidEvent(PAYLOAD, f"expected a JSON object, got {type(obj).__name__}")
    try:
        return Event.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or PAYLOAD
        reason = "missing" if err["type"] == "missing" else err["msg"]
        raise InvalidEvent(field, reason) from None
