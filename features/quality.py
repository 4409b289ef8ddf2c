"""Data-quality checks run on every output before it is written: schema, nulls, ranges, allowed
values, key uniqueness and row count against the input. The first broken rule fails the job with
a QualityError naming the table and the rule."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features.tables import Column, Table
from hz45.errors import Hz45Error


class QualityError(Hz45Error):
    """An output table broke a data-quality rule; nothing of it was written."""

    def __init__(self, table: str, rule: str, detail: str):
        self.table, self.rule = table, rule
        super().__init__(f"quality check failed: table '{table}', rule {rule}: {detail}")


def check(df: DataFrame, table: Table, rows: tuple[int, int]) -> int:
    """Check `df` against `table`'s rules and the expected row count [low, high]; return the rows."""
    _schema(df, table)
    counts = df.agg(*_aggregates(table)).first().asDict()
    n = counts.pop("_rows")
    for rule, bad in counts.items():
        if bad:
            raise QualityError(table.name, rule, f"{bad} of {n} rows break it")
    low, high = rows
    if not low <= n <= high:
        raise QualityError(table.name, "row_count", f"{n} rows, expected between {low} and {high} from the input")
    duplicate = df.groupBy(*table.key).count().where(F.col("count") > 1).first()
    if duplicate is not None:
        key = ", ".join(f"{k}={duplicate[k]}" for k in table.key)
        raise QualityError(
            table.name, f"unique({', '.join(table.key)})", f"{duplicate['count']} rows share the key {key}"
        )
    return n


def _schema(df: DataFrame, table: Table) -> None:
    actual = {f.name: f.dataType for f in df.schema.fields}
    missing = [c.name for c in table.columns if c.name not in actual]
    extra = [name for name in actual if name not in table.names]
    wrong = [f"{c.name} is {actual[c.name].simpleString()} not {c.type.simpleString()}"
             for c in table.columns if c.name in actual and actual[c.name] != c.type]
    problems = ([f"missing columns {missing}"] if missing else []) + (
        [f"unexpected columns {extra}"] if extra else []) + wrong
    if problems:
        raise QualityError(table.name, "schema", "; ".join(problems))


def _aggregates(table: Table) -> list:
    """One pass counts the rows and, per rule, the rows that break it (named as the rule)."""
    out = [F.count(F.lit(1)).alias("_rows")]
    for c in table.columns:
        if not c.nullable:
            out.append(_count(_missing(c), f"not_null({c.name})"))
        if c.lo is not None or c.hi is not None:
            out.append(_count(_outside(c), f"range({c.name} in [{_fmt(c.lo, '-inf')}, {_fmt(c.hi, 'inf')}])"))
        if c.values is not None:
            out.append(_count(~F.col(c.name).isin(*c.values), f"values({c.name} in {list(c.values)})"))
    return out


def _missing(c: Column):
    is_null = F.col(c.name).isNull()
    if isinstance(c.type, T.DoubleType):
        return is_null | F.isnan(c.name)
    return is_null


def _outside(c: Column):
    col = F.col(c.name)
    low = col < c.lo if c.lo is not None else F.lit(False)
    high = col > c.hi if c.hi is not None else F.lit(False)
    broken = low | high
    if isinstance(c.type, T.DoubleType):
        # NaN compares greater than everything in Spark; a nullable NaN is still not a value.
        broken = broken | F.isnan(c.name)
    return broken


def _count(condition, name: str):
    return F.sum(F.when(condition, 1).otherwise(0)).alias(name)


def _fmt(bound: float | None, unbounded: str) -> str:
    return unbounded if bound is None else f"{bound:g}"
