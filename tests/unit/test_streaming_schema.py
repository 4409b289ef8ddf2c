"""The event schema: one table of good and bad records, checked by `validate_event` directly and
by the streaming job's Spark path, which must agree record by record."""

from __future__ import annotations

import json

import pytest

from streaming.malformed import KINDS, malformed
from streaming.schema import FIELDS, PAYLOAD, Event, InvalidEvent, validate_event

GOOD = {
    "schema_version": 1,
    "event_id": "e-1",
    "listener_id": 7,
    "track_id": 42,
    "type": "play",
    "timestamp": 1_717_236_000_000,
    "ms_played": 180_000,
    "session_id": "7-1",
    "client": "web",
}


def dump(doc) -> bytes:
    return json.dumps(doc).encode()


def changed(**fields) -> bytes:
    return dump({**GOOD, **fields})


def without(name: str) -> bytes:
    return dump({k: v for k, v in GOOD.items() if k != name})


# (case, record value, the field the error must name; None for a valid event)
CASES = [
    ("good", dump(GOOD), None),
    ("good skip without time played", changed(type="skip", ms_played=0), None),
    ("good with an unknown extra field", changed(device="tv"), None),
    ("good uuid id and largest ids", changed(event_id="0f8fad5b-d9cb-469f-a165-70867728950e",
                                             listener_id=2**63 - 1, track_id=0), None),
    ("good with spaces around", b"  " + dump(GOOD) + b"\n", None),
    ("empty", b"", PAYLOAD),
    ("not json", b"play 42", PAYLOAD),
    ("trailing garbage", dump(GOOD) + b" x", PAYLOAD),
    ("json array", dump([GOOD]), PAYLOAD),
    ("json string", b'"play"', PAYLOAD),
    ("not utf-8", b"\xff\xfe\x00", PAYLOAD),
    ("NaN literal", dump(GOOD)[:-1] + b', "x": NaN}', PAYLOAD),
    ("duplicate key", dump(GOOD)[:-1] + b', "track_id": 43}', "track_id"),
    ("missing version", without("schema_version"), "schema_version"),
    ("future version", changed(schema_version=2), "schema_version"),
    ("version true", changed(schema_version=True), "schema_version"),
    ("missing event id", without("event_id"), "event_id"),
    ("event id with space", changed(event_id="e 1"), "event_id"),
    ("event id with newline", changed(event_id="e1\n"), "event_id"),
    ("event id too long", changed(event_id="e" * 65), "event_id"),
    ("listener as text", changed(listener_id="7"), "listener_id"),
    ("listener as float", changed(listener_id=7.0), "listener_id"),
    ("listener negative", changed(listener_id=-1), "listener_id"),
    ("listener over int64", changed(listener_id=2**63), "listener_id"),
    ("listener null", changed(listener_id=None), "listener_id"),
    ("track bool", changed(track_id=True), "track_id"),
    ("unknown type", changed(type="rewind"), "type"),
    ("type in capitals", changed(type="PLAY"), "type"),
    ("timestamp in seconds as float", changed(timestamp=1_717_236_000.5), "timestamp"),
    ("timestamp after 2100", changed(timestamp=4_102_444_800_001), "timestamp"),
    ("ms played negative", changed(ms_played=-1), "ms_played"),
    ("ms played over a day", changed(ms_played=86_400_001), "ms_played"),
    ("session empty", changed(session_id=""), "session_id"),
    ("client upper case", changed(client="Web"), "client"),
    ("missing client", without("client"), "client"),
    ("first bad field wins", changed(track_id="x", client="X"), "track_id"),
]


def outcome(raw) -> str | None:
    try:
        validate_event(raw)
    except InvalidEvent as exc:
        return exc.field
    return None


@pytest.mark.parametrize("case,raw,field", CASES, ids=[c[0] for c in CASES])
def test_validate_event_names_the_field(case, raw, field):
    assert outcome(raw) == field


def test_valid_event_round_trips_and_keys_by_listener():
    event = validate_event(dump(GOOD))
    assert validate_event(event.to_json()) == event
    assert event.key() == b"7"
    assert event.event_time.isoformat() == "2024-06-01T10:00:00+00:00"
    assert tuple(json.loads(event.to_json())) == FIELDS


def test_parsed_objects_get_the_same_rules():
    assert validate_event(dict(GOOD)) == validate_event(dump(GOOD))
    with pytest.raises(InvalidEvent) as err:
        validate_event({**GOOD, "ms_played": "180000"})
    assert err.value.field == "ms_played"
    assert "ms_played" in str(err.value)


def test_every_malformed_kind_is_rejected_with_its_field():
    event = Event.model_validate(GOOD)
    for i, (kind, (field, _)) in enumerate(KINDS.items()):
        got_kind, got_field, payload = malformed(event, i)
        assert got_kind == kind
        assert outcome(payload) == field == got_field, kind
