"""The streaming job's Spark transformations on static DataFrames (no broker needed): the record
check against `validate_event`, dead letters, and the listener operator against one pandas pass."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from hz45.catalog import load
from hz45.catalog.base import AUDIO_FEATURES
from streaming.backfill import features_from_events, same_features, with_audio
from streaming.features import EVENT, FEATURES, HOUR_MS, INVALID, FeatureParams, listener_features
from streaming.replay import dataset_events
from streaming.parse import ERROR_FIELD_HEADER, ERROR_REASON_HEADER, SOURCE_HEADER, checked, dead_letter_headers
from test_streaming_schema import CASES, outcome


@pytest.fixture(scope="module")
def spark():
    # The operator's jar is on the driver class path of every Spark this test process starts
    # (tests/conftest.py).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.streaming.stateStore.providerClass",
                "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def records(spark):
    rows = [(str(i).encode(), raw, "raw", 0, i) for i, (_, raw, _) in enumerate(CASES)]
    return checked(spark.createDataFrame(rows, "key binary, value binary, topic string, partition int, offset long"))


def test_spark_check_agrees_with_validate_event_on_every_case(records):
    got = {int(r["offset"]): (None if r["ok"] else r["error_field"]) for r in records.collect()}
    for i, (case, raw, _) in enumerate(CASES):
        assert got[i] == outcome(raw), case


def test_checked_records_carry_typed_event_fields(records):
    valid = records.where("ok")
    assert valid.count() == sum(1 for _, raw, field in CASES if field is None)
    first = valid.where("event_id = 'e-1'").first()
    assert first["listener_id"] == 7 and first["ms_played"] == 180_000
    assert dict(valid.dtypes)["listener_id"] == "bigint"


def test_dead_letters_keep_the_original_record_and_say_why(records):
    failed = [r.asDict() for r in records.where("NOT ok").collect()]
    bad = [(i, raw, field) for i, (_, raw, field) in enumerate(CASES) if field is not None]
    assert len(failed) == len(bad)
    by_key = {int(r["key"]): r for r in failed}
    for i, raw, field in bad:
        record = by_key[i]
        headers = {k: v.decode() for k, v in dead_letter_headers(record)}
        assert bytes(record["value"]) == raw
        assert headers[ERROR_FIELD_HEADER] == field
        assert headers[ERROR_REASON_HEADER]
        assert headers[SOURCE_HEADER] == f"raw/0/{i}"


PARAMS = FeatureParams(last_n=5, profile_plays=4, hour_windows=3)


@pytest.fixture(scope="module")
def dummy_events():
    dummy = load("dummy", n_users=30, n_tracks=120, n_events=3000, seed=7)
    tracks = dummy.items.rename(columns={"item_id": "track_id"})
    # Some tracks without audio features: they must not enter the audio profile.
    tracks.loc[tracks["track_id"] % 5 == 0, "energy"] = np.nan
    frame = with_audio(dataset_events(dummy, session_gap_s=1800), tracks)
    # Squeeze the year of events into a few hours so the hourly windows have several plays each.
    frame["timestamp"] = frame["timestamp"].min() + (frame["timestamp"] - frame["timestamp"].min()) // 2000
    return frame


def operator_rows(spark, frame: pd.DataFrame, params: FeatureParams) -> list:
    """The listener operator's output over events that passed the check, each carrying its
    track's audio features (which make the operator's table of tracks)."""
    tracks = frame[["track_id", *AUDIO_FEATURES]].drop_duplicates("track_id")
    events = spark.createDataFrame(frame.drop(columns=list(AUDIO_FEATURES)).assign(ok=True))
    return listener_features(events, tracks, params).collect()


def spark_documents(spark, frame: pd.DataFrame, params: FeatureParams) -> dict[int, dict]:
    rows = [r for r in operator_rows(spark, frame, params) if r["kind"] == FEATURES]
    docs = {r["listener_id"]: json.loads(r["document"]) for r in rows}
    assert len(docs) == len(rows), "one feature update per listener"
    return docs


def test_spark_features_match_one_pandas_pass_over_the_events(spark, dummy_events):
    want = features_from_events(dummy_events, PARAMS)
    # The log is rich enough to exercise every feature, including hours falling out of the window.
    assert sum(len(d["plays_per_hour"]) > 1 for d in want.values()) > 10
    assert sum(len(d["recent_tracks"]) == PARAMS.last_n for d in want.values()) > 10
    assert sum(0 < d["profile_plays"] for d in want.values()) > 10
    span = dummy_events.groupby("listener_id")["timestamp"].agg(lambda t: t.max() - t.min())
    assert (span > PARAMS.hour_windows * HOUR_MS).any()
    # Rows in shuffled order: the result must not depend on arrival order.
    got = spark_documents(spark, dummy_events.sample(frac=1.0, random_state=3), PARAMS)
    assert set(got) == set(want)
    for listener, doc in want.items():
        assert same_features(got[listener], doc) == [], listener


def test_feature_definitions_on_a_small_hand_made_log(spark):
    base = 1_717_236_000_000
    audio = {f: 1.0 for f in AUDIO_FEATURES}
    rows = [
        ("a", 1, "play", base, {**audio, "energy": 0.2}),
        ("b", 2, "skip", base + 1000, audio),
        ("c", 3, "play", base + HOUR_MS, {**audio, "energy": 0.6}),
        ("d", 4, "play", base + 2 * HOUR_MS, {**audio, "energy": None}),
        ("e", 5, "like", base + 2 * HOUR_MS + 1, audio),
    ]
    frame = pd.DataFrame(
        [{"event_id": e, "listener_id": 9, "track_id": t, "type": k, "timestamp": ts, "session_id": "9-1", **a}
         for e, t, k, ts, a in rows]
    )
    doc = spark_documents(spark, frame, FeatureParams(last_n=2, profile_plays=5, hour_windows=2))[9]
    assert doc["recent_tracks"] == [4, 3]
    assert (doc["plays"], doc["skips"], doc["likes"], doc["dislikes"], doc["events"]) == (3, 1, 1, 0, 5)
    assert doc["skip_rate"] == pytest.approx(0.25)
    # Hour windows: the newest event's hour and the one before; the first hour is dropped.
    hour0 = base - base % HOUR_MS
    assert doc["plays_per_hour"] == [{"hour_start": hour0 + HOUR_MS, "plays": 1},
                                     {"hour_start": hour0 + 2 * HOUR_MS, "plays": 1}]
    # Track 4 has no energy: the profile averages plays 1 and 3 only.
    assert doc["profile_plays"] == 2
    assert doc["audio_profile"]["energy"] == pytest.approx(0.4)
    assert (doc["last_event_id"], doc["session_id"], doc["last_event_time"]) == ("e", "9-1", base + 2 * HOUR_MS + 1)


def test_a_listener_without_plays_has_empty_features_not_missing_ones(spark):
    frame = pd.DataFrame([{"event_id": "x", "listener_id": 3, "track_id": 1, "type": "like", "timestamp": 5,
                           "session_id": "s", **{f: None for f in AUDIO_FEATURES}}])
    frame[list(AUDIO_FEATURES)] = frame[list(AUDIO_FEATURES)].astype(float)
    doc = spark_documents(spark, frame, PARAMS)[3]
    assert doc["skip_rate"] is None and doc["audio_profile"] is None
    assert doc["recent_tracks"] == [] and doc["plays_per_hour"] == [] and doc["profile_plays"] == 0


def test_the_operator_passes_new_events_and_invalid_records_on_once(spark, records):
    no_tracks = pd.DataFrame(columns=["track_id", *AUDIO_FEATURES])
    rows = listener_features(records, no_tracks, PARAMS).collect()
    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in (EVENT, INVALID, FEATURES)}
    good = [(i, raw) for i, (_, raw, field) in enumerate(CASES) if field is None]
    ids = {json.loads(raw)["event_id"] for _, raw in good}
    # Several good cases share the id "e-1": the operator passes it on, and counts it, once.
    assert len(ids) < len(good)
    assert sorted(r["event_id"] for r in by_kind[EVENT]) == sorted(ids)
    bad = {i: (raw, field) for i, (_, raw, field) in enumerate(CASES) if field is not None}
    assert {r["offset"]: (bytes(r["value"]), r["error_field"]) for r in by_kind[INVALID]} == bad
    docs = {r["listener_id"]: json.loads(r["document"]) for r in by_kind[FEATURES]}
    assert docs[7]["events"] == 1 and docs[7]["last_event_id"] == "e-1"
    assert set(docs) == {json.loads(raw)["listener_id"] for _, raw in good}
