"""Cleaning, quality checks and reruns, on a small input with one broken event per rule."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from feature_inputs import AS_OF, BROKEN, GOOD_EVENTS, RUN_DATE, dirty_events, dirty_tracks, feature_settings, output, write_input
from features import quality, reference
from features.jobs import build
from features.tables import Z_COLUMNS, tables
from features.config import features_config
from hz45.stores.sql import get_engine

DATASET = "dirty"


@pytest.fixture(scope="module")
def cleaned(settings, spark, tmp_path_factory):
    folder = write_input(tmp_path_factory.mktemp("dirty-input"))
    return build(settings, RUN_DATE, DATASET, ["clean"], folder, spark=spark)


def test_each_rule_drops_its_events_and_the_rest_match_pandas(cleaned, settings):
    assert cleaned["rejected_events"] == BROKEN
    raw = dirty_events()
    expected = reference.clean_events(raw, dirty_tracks()["item_id"], AS_OF, 1.0, 5.0)
    assert len(expected) == GOOD_EVENTS
    got = output(settings, "clean_events", DATASET, RUN_DATE)
    key = ["user_id", "item_id", "event_type", "timestamp"]
    got = got.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[key + ["value"]], expected[key + ["value"]], check_dtype=False)
    # " PLAY " is a play once trimmed and lower-cased.
    assert set(got["event_type"]) <= {"play", "skip", "like", "dislike"}


def test_impossible_track_values_become_unknown_and_audio_is_standardised(cleaned, settings):
    tracks = output(settings, "tracks", DATASET, RUN_DATE).set_index("item_id").sort_index()
    assert pd.isna(tracks.loc[3, "duration_ms"]) and pd.isna(tracks.loc[3, "tempo"])
    assert pd.isna(tracks.loc[3, "genre"])  # blank genre is unknown
    assert pd.isna(tracks.loc[4, "danceability"]) and pd.isna(tracks.loc[4, "popularity"])
    assert pd.isna(tracks.loc[4, "release_year"])  # after the run date
    assert not tracks.loc[5, "has_audio"] and tracks.loc[5, list(Z_COLUMNS)].isna().all()
    assert pd.isna(tracks.loc[5, "cluster"])
    clean = reference.clean_tracks(dirty_tracks(), AS_OF).set_index("item_id").sort_index()
    expected = reference.standardise(clean.reset_index()).set_index(clean.index)
    np.testing.assert_allclose(tracks[list(Z_COLUMNS)].to_numpy(float), expected.to_numpy(float), atol=1e-9)


def test_quality_failure_names_the_table_and_the_rule(settings, spark, tmp_path):
    folder = write_input(tmp_path / "input")
    strict = settings.model_copy(update={"features": {**settings.features, "quality": {"max_event_drop_fraction": 0.01}}})
    with pytest.raises(quality.QualityError) as failure:
        build(strict, RUN_DATE, "strict", ["clean"], folder, spark=spark)
    assert failure.value.table == "clean_events" and failure.value.rule == "row_count"
    assert "table 'clean_events', rule row_count" in str(failure.value)
    # Nothing of the failed table was written.
    with pytest.raises(FileNotFoundError):
        output(strict, "clean_events", "strict", RUN_DATE)


@pytest.mark.parametrize(
    ("rows", "rule"),
    [
        ([(1, 0.2, "a"), (None, 1.0, "b")], "not_null(user_id)"),
        ([(1, 0.2, "a"), (1, 0.3, "b")], "unique(user_id)"),
        ([(1, -2.0, "a"), (2, 1.0, "b")], "range(score in [0, 1])"),
        ([(1, float("nan"), "a")], "range(score in [0, 1])"),
        ([(1, 1.0, "x")], "values(kind in ['a', 'b'])"),
    ],
)
def test_each_rule_is_named_when_broken(spark, rows, rule):
    table = quality.Table(
        "scores",
        (quality.Column("user_id", quality.T.LongType(), False), quality.Column("score", quality.T.DoubleType(), True, 0, 1),
         quality.Column("kind", quality.T.StringType(), values=("a", "b"))),
        key=("user_id",),
    )
    df = spark.createDataFrame(rows, "user_id long, score double, kind string")
    with pytest.raises(quality.QualityError) as failure:
        quality.check(df, table, (0, 10))
    assert (failure.value.table, failure.value.rule) == ("scores", rule)


def test_schema_and_row_count_rules(spark, settings):
    table = tables(features_config(settings))["cluster_centers"]
    wrong = spark.createDataFrame([(1, 2)], "cluster int, k long")
    with pytest.raises(quality.QualityError, match=r"table 'cluster_centers', rule schema: missing columns"):
        quality.check(wrong, table, (0, 10))
    empty = spark.createDataFrame([], table.schema())
    with pytest.raises(quality.QualityError, match=r"rule row_count: 0 rows, expected between 3 and 3"):
        quality.check(empty, table, (3, 3))


def test_a_rerun_replaces_its_date_and_nothing_else(settings, spark, tmp_path):
    first, other = RUN_DATE, RUN_DATE + timedelta(days=1)
    jobs = ["clean", "items", "charts"]
    folder = write_input(tmp_path / "input")
    dataset = "rerun"
    for day in (first, other):
        build(settings, day, dataset, jobs, folder, spark=spark)
    before_first = output(settings, "clean_events", dataset, first)
    before_other = output(settings, "clean_events", dataset, other)
    engine = get_engine(settings=settings)

    def sql_rows(day):
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "select count(*), sum(play_count) from item_features where dataset = :d and run_date = :r"),
                {"d": dataset, "r": day}).one()

    other_sql = sql_rows(other)
    # Three plays fewer for the first date: its outputs change, the other date's stay as they were.
    events = dirty_events()
    removed = events.index[events["event_type"] == "play"][:3]
    write_input(folder, events.drop(index=removed))
    build(settings, first, dataset, jobs, folder, spark=spark)
    again = output(settings, "clean_events", dataset, first)
    assert len(again) == len(before_first) - 3
    pd.testing.assert_frame_equal(output(settings, "clean_events", dataset, other), before_other)
    assert sql_rows(other) == other_sql
    count, plays = sql_rows(first)
    assert count == len(dirty_tracks())
    assert plays == pytest.approx(again.loc[again["event_type"] == "play", "value"].sum())
