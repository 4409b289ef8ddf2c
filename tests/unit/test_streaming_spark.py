"""The streaming job's Spark transformations on static DataFrames (no broker needed)."""

from __future__ import annotations

import os
import sys

import pytest
from pyspark.sql import SparkSession

from streaming.parse import ERROR_FIELD_HEADER, ERROR_REASON_HEADER, SOURCE_HEADER, checked, dead_letters, valid_events
from test_streaming_schema import CASES, outcome


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
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
    got = {int(r["offset"]): (None if r["check"]["ok"] else r["check"]["error_field"]) for r in records.collect()}
    for i, (case, raw, _) in enumerate(CASES):
        assert got[i] == outcome(raw), case


def test_valid_events_carry_typed_fields_and_event_time(records):
    valid = valid_events(records)
    rows = valid.collect()
    assert len(rows) == sum(1 for _, raw, field in CASES if field is None)
    first = valid.where("event_id = 'e-1'").first()
    assert first["listener_id"] == 7 and first["ms_played"] == 180_000
    assert first["event_time"].isoformat() == "2024-06-01T10:00:00"
    assert dict(valid.dtypes)["listener_id"] == "bigint"


def test_dead_letters_keep_the_original_record_and_say_why(records):
    letters = dead_letters(records).collect()
    bad = [(i, raw, field) for i, (_, raw, field) in enumerate(CASES) if field is not None]
    assert len(letters) == len(bad)
    by_key = {int(r["key"]): r for r in letters}
    for i, raw, field in bad:
        letter = by_key[i]
        headers = {h["key"]: bytes(h["value"]).decode() for h in letter["headers"]}
        assert bytes(letter["value"]) == raw
        assert headers[ERROR_FIELD_HEADER] == field
        assert headers[ERROR_REASON_HEADER]
        assert headers[SOURCE_HEADER] == f"raw/0/{i}"
