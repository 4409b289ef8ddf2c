"""Writing feature and chart tables into the main DB (SQLite or MariaDB/MySQL).

Why not JDBC or a pandas `to_sql` on the driver: the executors write their own partitions through
SQLAlchemy (Arrow batches -> executemany), so no table passes through the driver and the writes
run in parallel on a cluster as JDBC's would; and the SQL types are SQLAlchemy's, the ones every
other stage reads the main DB with, on SQLite and MariaDB alike (Spark's generic JDBC dialect
stores SQLite dates as epoch integers, and JDBC needs driver jars on every executor).

A rerun replaces only its own (dataset, run date) rows, atomically: the executors fill a staging
table, then one transaction deletes the date's rows and copies the staging rows in, so a reader
sees the old or the new rows of that date, never a mix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from itertools import repeat

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from features.tables import Table
from hz45.settings import Settings
from hz45.stores.schema import Timestamp
from hz45.stores.sql import get_engine

SQL_TYPES = {
    T.LongType(): sa.BigInteger(),
    T.IntegerType(): sa.Integer(),
    T.DoubleType(): sa.Double(),
    T.TimestampType(): Timestamp,
    T.BooleanType(): sa.Boolean(),
}
# Key strings must be bounded to be indexed on MariaDB; other strings are free text.
KEY_STRING = sa.String(255)


def sql_table(table: Table, metadata: sa.MetaData, name: str | None = None, keyed: bool = True) -> sa.Table:
    """The SQL form of `table`: (dataset, run_date) first, then its columns; keyed on
    (dataset, run_date, *key) unless it is a staging copy."""
    columns = [
        sa.Column("dataset", sa.String(64), nullable=False, primary_key=keyed),
        sa.Column("run_date", sa.Date, nullable=False, primary_key=keyed),
    ]
    for c in table.columns:
        in_key = c.name in table.key
        if isinstance(c.type, T.StringType):
            kind = KEY_STRING if in_key else sa.Text()
        else:
            kind = SQL_TYPES[c.type]
        columns.append(sa.Column(c.name, kind, nullable=c.nullable, primary_key=keyed and in_key))
    return sa.Table(name or table.name, metadata, *columns)


def write_table(df: DataFrame, table: Table, settings: Settings, dataset: str, run_date: date,
                writers: int, batch_rows: int) -> int:
    """Replace the (dataset, run_date) rows of `table` in the main DB with `df`; return the rows."""
    engine = get_engine(settings=settings)
    url = engine.url.render_as_string(hide_password=False)
    metadata = sa.MetaData()
    target = sql_table(table, metadata)
    staging = sql_table(table, metadata, name=f"{table.name}_staging_{uuid.uuid4().hex[:12]}", keyed=False)
    target.create(engine, checkfirst=True)
    staging.create(engine)
    try:
        # SQLite takes one writer at a time; a server takes several.
        parts = 1 if engine.dialect.name == "sqlite" else writers
        source = df.coalesce(parts) if df.rdd.getNumPartitions() > parts else df
        written = source.mapInArrow(
            _insert_batches(url, table, staging.name, dataset, run_date, batch_rows), "rows long"
        ).groupBy().sum("rows").first()[0] or 0
        names = ["dataset", "run_date", *table.names]
        with engine.begin() as conn:
            conn.execute(target.delete().where(target.c.dataset == dataset, target.c.run_date == run_date))
            conn.execute(target.insert().from_select(names, sa.select(*(staging.c[n] for n in names))))
    finally:
        staging.drop(engine, checkfirst=True)
    return int(written)


def _insert_batches(url: str, table: Table, staging: str, dataset: str, run_date: date, batch_rows: int):
    """The function each executor runs on its partition: insert its Arrow batches into staging."""

    def insert(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        engine = get_engine(url)
        statement = _insert_statement(engine, staging, [*table.names, "dataset", "run_date"])
        written = 0
        with engine.begin() as conn:
            for batch in batches:
                for start in range(0, batch.num_rows, batch_rows):
                    rows = _rows(batch.slice(start, batch_rows), dataset, run_date)
                    # The driver's own executemany on tuples: twice as fast as Core's dicts, and
                    # pymysql turns it into multi-row INSERTs.
                    conn.exec_driver_sql(statement, rows)
                    written += len(rows)
        yield pa.RecordBatch.from_pydict({"rows": [written]})

    return insert


def _insert_statement(engine: sa.Engine, name: str, columns: list[str]) -> str:
    quote = engine.dialect.identifier_preparer.quote
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(mark for _ in columns)})")


def _rows(batch: pa.RecordBatch, dataset: str, run_date: date) -> list[tuple]:
    """Arrow rows as DB parameters, then dataset and run date: NaN as NULL (MariaDB refuses NaN),
    times as naive UTC."""
    columns = []
    for column in batch.columns:
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        elif pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))
        columns.append(column.to_pylist())
    return list(zip(*columns, repeat(dataset), repeat(run_date)))
