"""MongoDB (FerretDB locally) through pymongo, addressed by `mongo.uri` and `mongo.database`."""

from __future__ import annotations

import re
from functools import lru_cache

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConfigurationError, ConnectionFailure, InvalidURI
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
