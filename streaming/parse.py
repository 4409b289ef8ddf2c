"""Kafka records -> checked records, inside Spark, with the schema's own `validate_event`.

The check runs in Spark's Python workers over Arrow batches of record values (`mapInArrow`), so
Spark accepts exactly what the producer and the serving app accept. Each record keeps its Kafka
key, value and position and gains `ok`, the error's field and reason, and the event's fields;
their Spark types are derived from the schema's field types.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Literal, get_args, get_origin

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

from streaming.schema import FIELDS, Event, InvalidEvent, validate_event

# Kafka record headers on a dead-letter record; its key and value are the original's, unchanged.
ERROR_FIELD_HEADER = "hz45.error.field"
ERROR_REASON_HEADER = "hz45.error.reason"
SOURCE_HEADER = "hz45.source"  # "<topic>/<partition>/<offset>" of the original record
RECORD_COLUMNS = ("key", "value", "topic", "partition", "offset")


def _spark_type(annotation: object):
    """The Spark type of a schema field: a Literal's by its values, others by their own type."""
    python_type = type(get_args(annotation)[0]) if get_origin(annotation) is Literal else annotation
    return {int: LongType(), str: StringType()}[python_type]


EVENT_SCHEMA = StructType([StructField(name, _spark_type(Event.model_fields[name].annotation)) for name in FIELDS])
CHECK_SCHEMA = StructType(
    [StructField("ok", BooleanType()), StructField("error_field", StringType()), StructField("error_reason", StringType())]
    + list(EVENT_SCHEMA.fields)
)
_MISSING = (None,) * len(FIELDS)


def check_value(raw: bytes | None) -> tuple:
    """CHECK_SCHEMA's values for one record value."""
    try:
        event = validate_event(raw)
    except InvalidEvent as exc:
        return (False, exc.field, exc.reason, *_MISSING)
    return (True, None, None, *(getattr(event, name) for name in FIELDS))


def _check_batches(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    passed = len(RECORD_COLUMNS)
    for batch in batches:
        rows = [check_value(raw) for raw in batch.column("value").to_pylist()]
        columns = list(zip(*rows)) if rows else [()] * len(CHECK_SCHEMA.fields)
        checks = [pa.array(values, type=schema.field(passed + i).type) for i, values in enumerate(columns)]
        yield pa.RecordBatch.from_arrays([batch.column(name) for name in RECORD_COLUMNS] + checks, schema=schema)


def checked(records: DataFrame) -> DataFrame:
    """Kafka source rows -> RECORD_COLUMNS followed by CHECK_SCHEMA's columns."""
    source = records.select(*RECORD_COLUMNS)
    schema = StructType(source.schema.fields + CHECK_SCHEMA.fields)
    return source.mapInArrow(partial(_check_batches, to_arrow_schema(schema)), schema)


def dead_letter_headers(record: dict) -> list[tuple[str, bytes]]:
    """The headers of a failed record's dead letter (its key and value stay the original's):
    the error's field and reason, and where the record was."""
    source = f"{record['topic']}/{record['partition']}/{record['offset']}"
    return [(ERROR_FIELD_HEADER, record["error_field"].encode()), (ERROR_REASON_HEADER, record["error_reason"].encode()),
            (SOURCE_HEADER, source.encode())]
