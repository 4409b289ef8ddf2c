"""pymongo against the project's FerretDB: insert, find and a unique index that really holds."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from hz45.stores import mongo


@pytest.fixture
def collection(services_settings):
    client = mongo.get_client(services_settings)
    name = f"{services_settings.mongo.database}_it_{os.getpid()}"
    yield client[name]["events"]
    client.drop_database(name)


def test_insert_find_index_round_trip(collection):
    t0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
    docs = [
        {
            "event_id": f"e{i}",
            "user_id": i % 3,
            "track_id": 100 + i,
            "type": "play" if i % 2 else "skip",
            "ts": t0.replace(minute=i),
        }
        for i in range(10)
    ]
    result = collection.insert_many(docs)
    assert len(result.inserted_ids) == 10

    got = list(collection.find({"user_id": 1, "type": "play"}, {"_id": 0, "track_id": 1}).sort("ts", DESCENDING))
    assert got == [{"track_id": 107}, {"track_id": 101}]
    assert collection.count_documents({"ts": {"$gte": t0.replace(minute=5)}}) == 5

    collection.create_index([("event_id", ASCENDING)], unique=True, name="ux_event_id")
    collection.create_index([("user_id", ASCENDING), ("ts", DESCENDING)], name="ix_user_ts")
    info = collection.index_information()
    assert info["ux_event_id"]["unique"] is True
    assert info["ix_user_ts"]["key"] == [("user_id", 1), ("ts", -1)]
    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"event_id": "e3", "user_id": 9})

    collection.update_one({"event_id": "e4"}, {"$set": {"type": "like"}})
    assert collection.find_one({"event_id": "e4"})["type"] == "like"


def test_insert_new_keeps_the_first_copy_of_each_id(collection):
    first = [{"_id": f"r{i}", "copy": 1} for i in range(300)]
    assert mongo.insert_new(collection, first) == 300
    # A redelivered batch: 300 ids already there, 5 new ones.
    again = [{"_id": f"r{i}", "copy": 2} for i in range(305)]
    assert mongo.insert_new(collection, again) == 5
    assert collection.count_documents({}) == 305
    assert collection.count_documents({"copy": 1}) == 300
    assert mongo.insert_new(collection, []) == 0
