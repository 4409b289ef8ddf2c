"""The feature jobs writing their tables into the real MariaDB (HZ45_PROFILE=services): the rows
equal the offline store's, and a rerun replaces its own date only."""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from feature_inputs import RUN_DATE, dirty_events, feature_settings, output, write_input
from features.jobs import build
from features.session import spark_session
from hz45.stores.sql import get_engine

pytestmark = pytest.mark.integration
DATASET = "dirty"
JOBS = ["clean", "items", "users", "charts"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """Settings whose main DB is a scratch database on the project's MariaDB (fails when the
    server is not running), and a Spark session."""
    root = tmp_path_factory.mktemp("features-mariadb")
    services = feature_settings(root, profile="services")
    server = get_engine(settings=services)
    name = f"{services.services.mariadb.database}_features_{os.getpid()}"
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = server.url.set(database=name).render_as_string(hide_password=False)
    settings = feature_settings(root, profile="services", HZ45_SQL__URL=url)
    spark = spark_session(settings, "hz45-features-mariadb")
    try:
        yield settings, spark, root
    finally:
        spark.stop()
        get_engine(settings=settings).dispose()
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))


def _rows(settings, table: str, day) -> pd.DataFrame:
    with get_engine(settings=settings).connect() as conn:
        return pd.read_sql(sa.text(f"select * from {table} where dataset = :d and run_date = :r"), conn,
                           params={"d": DATASET, "r": day})


def test_tables_in_mariadb_equal_the_store_and_a_rerun_replaces_only_its_date(scratch):
    settings, spark, root = scratch
    folder = write_input(root / "input")
    other = RUN_DATE + timedelta(days=1)
    for day in (RUN_DATE, other):
        build(settings, day, DATASET, JOBS, folder, spark=spark)
    assert get_engine(settings=settings).dialect.name in ("mysql", "mariadb")

    for table, key in (("item_features", ["item_id"]), ("user_features", ["user_id"]),
                       ("chart_hourly_plays", ["hour", "item_id"]), ("chart_top_genre", ["genre", "rank"])):
        stored = output(settings, table, DATASET, RUN_DATE).sort_values(key).reset_index(drop=True)
        in_db = _rows(settings, table, RUN_DATE).sort_values(key).reset_index(drop=True)
        assert len(stored) > 0 and len(in_db) == len(stored), table
        for column in stored.columns:
            expected = stored[column]
            if pd.api.types.is_datetime64_any_dtype(expected):
                # Naive UTC in the DB, to the microsecond.
                expected = expected.dt.tz_convert("UTC").dt.tz_localize(None)
                assert (pd.to_datetime(in_db[column]) == expected).all(), (table, column)
            elif pd.api.types.is_float_dtype(expected):
                pd.testing.assert_series_equal(in_db[column].astype(float), expected.astype(float),
                                               check_names=False, rtol=1e-12)
            else:
                assert in_db[column].where(in_db[column].notna(), None).tolist() == \
                    expected.where(expected.notna(), None).tolist(), (table, column)

    other_rows = _rows(settings, "user_features", other)
    events = dirty_events()
    write_input(folder, events.drop(index=events.index[events["event_type"] == "play"][:3]))
    build(settings, RUN_DATE, DATASET, JOBS, folder, spark=spark)
    pd.testing.assert_frame_equal(_rows(settings, "user_features", other), other_rows)
    rerun = _rows(settings, "user_features", RUN_DATE)
    stored = output(settings, "user_features", DATASET, RUN_DATE)
    assert len(rerun) == len(stored)
    assert rerun["event_count"].sum() == stored["event_count"].sum() == other_rows["event_count"].sum() - 3 - 1
