"""Serving's pure parts: feature updates, context merging, log records, configuration."""

import json
from datetime import datetime, timezone

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from hz45.errors import ConfigError
from hz45.settings import ROOT, load_settings
from serving.app import deployment_options, serve_config, serve_yaml
from serving.config import serving_config
from serving.features import OnlineFeatures, parse_update
from serving.reclog import log_record, to_document, to_documents
from serving.service import merge_context


def update(listener, recent, **extra):
    return json.dumps({"listener_id": listener, "recent_tracks": recent, **extra}).encode()


def test_parse_update_reads_the_listener_and_document():
    listener, doc = parse_update(b"7", update(7, [3, 2], skip_rate=0.25))
    assert listener == 7 and doc["recent_tracks"] == [3, 2] and doc["skip_rate"] == 0.25


def test_a_tombstone_removes_the_listener():
    assert parse_update(b"7", None) == (7, None)


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b'{"recent_tracks": []}'])
def test_records_that_are_not_feature_updates_are_rejected(value):
    with pytest.raises(ValueError):
        parse_update(b"7", value)


def test_the_store_applies_updates_and_reports_each_listener():
    touched = []
    store = OnlineFeatures(lambda: None, "topic", on_update=touched.append)
    store.apply(b"7", update(7, [3, 2]))
    store.apply(b"8", update(8, [9]))
    store.apply(b"7", update(7, [5, 3, 2]))
    store.apply(b"x", b"garbage")
    store.apply(b"8", None)
    assert store.recent_tracks(7) == [5, 3, 2]
    assert store.get(8) is None and store.recent_tracks(8) == []
    assert touched == [7, 8, 7, 8]
    assert (store.applied, store.rejected, len(store)) == (4, 1, 1)


def test_merge_context_is_newest_last_with_the_request_after_the_stream():
    # streamed newest first (as the feature topic has it), request newest last
    assert merge_context([3, 2, 1], [4, 5], limit=10) == [1, 2, 3, 4, 5]
    # a track played again counts where it was played last
    assert merge_context([3, 2, 1], [2], limit=10) == [1, 3, 2]
    # the streamed tracks are cut to the limit, oldest first; the request's own never are
    assert merge_context([3, 2, 1], [], limit=2) == [2, 3]
    assert merge_context([9], [1, 2, 3], limit=2) == [1, 2, 3]
    assert merge_context([3, 2, 1], [], limit=0) == []


def test_a_log_record_becomes_a_document_keyed_by_request():
    record = log_record("r1", 7, [1, 2], [0.9, 0.5], "hz45-hybrid", "3", False, True, 1.23456)
    doc = to_document(record)
    assert doc["_id"] == "r1" and doc["listener_id"] == 7 and doc["items"] == [1, 2]
    assert doc["latency_ms"] == 1.235 and doc["model_version"] == "3"
    assert isinstance(doc["served_at"], datetime) and doc["served_at"].tzinfo == timezone.utc


def test_a_batch_message_becomes_one_document_per_served_list():
    records = [log_record(f"r{k}", k, [k], [1.0], "hz45-hybrid", "3", False, False, 0.5) for k in range(3)]
    docs = to_documents(json.dumps(records).encode())
    assert [d["_id"] for d in docs] == ["r0", "r1", "r2"] and [d["listener_id"] for d in docs] == [0, 1, 2]
    assert to_documents(json.dumps(records[0]).encode())[0]["_id"] == "r0"  # a single record, as older replicas sent


def test_the_default_serving_section_is_valid():
    config = serving_config(load_settings(environ={}))
    assert config.deployment.max_ongoing_requests >= 100
    assert config.max_n == 100 and config.host == "127.0.0.1"


def test_a_bad_serving_key_is_named():
    with pytest.raises(ConfigError, match="serving.deployment.max_ongoing_requests"):
        serving_config(load_settings(environ={"HZ45_SERVING__DEPLOYMENT__MAX_ONGOING_REQUESTS": "0"}))


def test_autoscaling_replaces_the_fixed_replica_count():
    env = {
        "HZ45_SERVING__DEPLOYMENT__AUTOSCALING__ENABLED": "true",
        "HZ45_SERVING__DEPLOYMENT__AUTOSCALING__MAX_REPLICAS": "3",
    }
    options = deployment_options(serving_config(load_settings(environ=env)))
    assert "num_replicas" not in options and options["autoscaling_config"]["max_replicas"] == 3
    ServeDeploySchema.model_validate(serve_config(load_settings(environ=env)))


def test_the_committed_serve_config_matches_the_settings_and_serve_accepts_it():
    committed = (ROOT / "configs" / "serve.yaml").read_text()
    assert committed == serve_yaml(load_settings(environ={})), "rewrite it with `hz45 serve config`"
    ServeDeploySchema.model_validate(yaml.safe_load(committed))
