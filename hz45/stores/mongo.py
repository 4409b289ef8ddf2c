"""MongoDB (FerretDB locally) through pymongo, addressed by `mongo.uri` and `mongo.database`."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConfigurationError, ConnectionFailure, InvalidURI
from pymongo.uri_parser import parse_uri

from hz45.errors import ConfigError, ServiceUnavailable
from hz45.settings import Settings, get_settings


def get_client(settings: Settings | None = None) -> MongoClient:
    """A client for `mongo.uri`, checked with `ping`; ServiceUnavailable when nobody answers."""
    settings = settings or get_settings()
    return _client(settings.mongo.uri, settings.mongo.timeout_ms)


def get_database(settings: Settings | None = None) -> Database:
    """The product's database (`mongo.database`)."""
    settings = settings or get_settings()
    return get_client(settings)[settings.mongo.database]


DUPLICATE_KEY = 11000


def insert_new(collection: Collection, docs: list[dict[str, Any]]) -> int:
    """Insert the documents whose `_id` is not in the collection yet; return how many were new.

    The idempotent write of append-only logs (a redelivered record is a duplicate key, left as
    it is). Preferred to an upsert per document: FerretDB looks an `_id` filter up without its
    index, so each upsert scans the collection, and many at once exhaust its connection pool.
    """
    if not docs:
        return 0
    try:
        return len(collection.insert_many(docs, ordered=False).inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
        if others:
            raise ServiceUnavailable(f"MongoDB refused {len(others)} document(s): {others[0].get('errmsg')}") from None
        return len(docs) - len(errors)


def display_uri(uri: str) -> str:
    """The URI as it may be printed: no credentials."""
    try:
        hosts = ",".join(f"{h}:{p}" for h, p in parse_uri(uri, validate=False)["nodelist"])
    except (InvalidURI, ConfigurationError, ValueError):
        return "<unparsable uri>"
    return f"mongodb://{hosts}/"


@lru_cache(maxsize=8)
def _client(uri: str, timeout_ms: int) -> MongoClient:
    try:
        client = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                             socketTimeoutMS=max(timeout_ms, 30_000), appname="hz45")
    except (InvalidURI, ConfigurationError) as exc:
        raise ConfigError(f"config: bad value for 'mongo.uri': {exc}") from None
    try:
        client.admin.command("ping")
    except ConnectionFailure as exc:
        client.close()
        # pymongo appends its timeouts and the whole topology; the first clause says enough.
        reason = re.split(r" \(configured timeouts|, Timeout:", str(exc))[0]
        raise ServiceUnavailable(f"MongoDB at {display_uri(uri)} does not answer: {reason}",
                                 "start it with `make services-up`") from None
    return client
