"""Kafka records -> checked events, inside Spark, with the schema's own `validate_event`.

The check runs as a vectorised pandas UDF over the record values, so Spark accepts exactly what
the producer and the serving app accept. The event columns' Spark types are derived from the
schema's field types.
"""

from __future__ import annotations

from typing import Literal, get_args, get_origin

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

from streaming.schema import FIELDS, Event, InvalidEvent, validate_event

# Kafka record headers on a dead-letter record; its key and value are the original's, unchanged.
ERROR_FIELD_HEADER = "hz45.error.field"
ERROR_REASON_HEADER = "hz45.error.reason"
SOURCE_HEADER = "hz45.source"  # "<topic>/<partition>/<offset>" of the original record


def _spark_type(annotation: object):
    """The Spark type of a schema field: a Literal's by its values, others by their own type."""
    python_type = type(get_args(annotation)[0]) if get_origin(annotation) is Literal else annotation
    return {int: LongType(), str: StringType()}[python_type]


EVENT_SCHEMA = StructType([StructField(name, _spark_type(Event.model_fields[name].annotation)) for name in FIELDS])
CHECK_SCHEMA = StructType(
    [StructField("ok", BooleanType()), StructField("error_field", StringType()), StructField("error_reason", StringType())]
    + list(EVENT_SCHEMA.fields)
)


def check_values(values: pd.Series) -> pd.DataFrame:
    """One row per record value: ok, the error's field and reason, and the event's fields."""
    rows = []
    for raw in values:
        try:
            event = validate_event(raw)
        except InvalidEvent as exc:
            rows.append({"ok": False, "error_field": exc.field, "error_reason": exc.reason})
        else:
            rows.append({"ok": True, **event.model_dump()})
    # Object columns keep ints exact and missing values as None (a float column would round
    # large ids and turn missing into NaN).
    return pd.DataFrame({name: pd.Series([r.get(name) for r in rows], dtype=object) for name in CHECK_SCHEMA.fieldNames()})


check_udf = F.pandas_udf(check_values, CHECK_SCHEMA)


def checked(records: DataFrame) -> DataFrame:
    """Kafka source rows with `check` (CHECK_SCHEMA) added beside key, value and position."""
    return records.select("key", "value", "topic", "partition", "offset", check_udf("value").alias("check"))


def valid_events(checked_records: DataFrame) -> DataFrame:
    """The events that passed, with `event_time` (a timestamp) for watermarks and windows."""
    return (
        checked_records.where("check.ok")
        .select("check.*")
        .drop("ok", "error_field", "error_reason")
        .withColumn("event_time", F.timestamp_millis("timestamp"))
    )


def _header(name: str, value: Column) -> Column:
    return F.struct(F.lit(name).alias("key"), value.cast("binary").alias("value"))


def dead_letters(checked_records: DataFrame) -> DataFrame:
    """The failed records as Kafka sink rows: original key and value, the reason in headers."""
    source = F.concat_ws("/", "topic", F.col("partition").cast("string"), F.col("offset").cast("string"))
    return checked_records.where("NOT check.ok").select(
        "key",
        "value",
        F.array(
            _header(ERROR_FIELD_HEADER, F.col("check.error_field")),
            _header(ERROR_REASON_HEADER, F.col("check.error_reason")),
            _header(SOURCE_HEADER, source),
        ).alias("headers"),
    )
