"""Insert-or-update a DataFrame into a table by its primary key, on SQLite and MariaDB/MySQL.

Loading the same frame twice leaves the table as after the first load. Rows go in chunks, each
in its own transaction, as one multi-row statement per chunk (pymysql rewrites executemany into
`INSERT ... VALUES (...), (...) ON DUPLICATE KEY UPDATE`; sqlite3 loops in C), so 100k rows
take seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine

from hz45.errors import Hz45Error
from hz45.stores.sql import get_engine

CHUNK_ROWS = 5000


def upsert(table: sa.Table, frame: pd.DataFrame, engine: Engine | None = None, chunk_rows: int = CHUNK_ROWS,
           progress: Callable[[int], None] | None = None) -> int:
    """Write `frame` into `table`; rows whose key exists are updated. Returns the rows written.

    The frame's columns must be columns of the table and include its whole primary key. NaN,
    NaT and pd.NA become NULL; timestamps are stored as naive UTC. `progress(n)` is called after
    each chunk with the rows it held.
    """
    engine = engine or get_engine()
    columns = list(frame.columns)
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise Hz45Error(f"upsert into {table.name}: unknown column(s) {', '.join(map(str, unknown))}",
                        f"its columns are {', '.join(table.c.keys())}")
    key = [c.name for c in table.primary_key.columns]
    missing = [c for c in key if c not in columns]
    if missing:
        raise Hz45Error(f"upsert into {table.name}: key column(s) {', '.join(missing)} missing from the frame")
    stmt = _statement(table, columns, key, engine.dialect.name)
    written = 0
    for start in range(0, len(frame), chunk_rows):
        rows = _records(frame.iloc[start:start + chunk_rows])
        with engine.begin() as conn:
            conn.execute(stmt, rows)
        written += len(rows)
        if progress:
            progress(len(rows))
    return written


def _statement(table: sa.Table, columns: list[str], key: list[str], dialect: str):
    rest = [c for c in columns if c not in key]
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        # MySQL has no DO NOTHING; setting a key column to itself is the no-op update.
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in rest or key[:1]})
    if dialect in ("sqlite", "postgresql"):
        stmt = (sqlite if dialect == "sqlite" else postgresql).insert(table)
        if not rest:
            return stmt.on_conflict_do_nothing(index_elements=key)
        return stmt.on_conflict_do_update(index_elements=key, set_={c: stmt.excluded[c] for c in rest})
    raise Hz45Error(f"upsert: the {dialect} database is not supported", "use SQLite or MariaDB/MySQL in sql.url")


def _records(frame: pd.DataFrame) -> list[dict]:
    """Plain Python values (drivers reject numpy scalars), None for every kind of missing."""
    columns = {name: _values(frame[name]) for name in frame.columns}
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]


def _values(col: pd.Series) -> list:
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(col.dtype):
        # The databases keep microseconds: numpy turns datetime64[us] into datetime objects
        # (NaT into None) in one pass.
        return col.to_numpy(dtype="datetime64[us]").astype(object).tolist()
    return col.astype(object).where(col.notna(), None).tolist()
