"""The feature jobs and their entry points.

Jobs, in dependency order (each later one reads the clean tables of its run date from the store):
- clean: events and tracks cleaned, audio standardised, tracks clustered
  -> clean_events, tracks, cluster_centers
- items: item features -> item_features
- users: user features and affinities -> user_features, user_cluster_affinity, user_genre_affinity
- charts: plays per track per hour, top tracks per genre and cluster (after items)
- training: the training set with its splits -> ratings

Call them from Python (`build(settings, run_date)`; Airflow tasks pass `jobs=[...]`), from the CLI
(`hz45 features build --date YYYY-MM-DD`), or with spark-submit:
`spark-submit features/jobs.py --date YYYY-MM-DD [--dataset NAME] [--job NAME ...]`.
Every output passes the quality checks before it is written; a rerun for a date replaces that
date's partitions and rows only.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time as clock, timedelta, timezone
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features import charts, clean, clusters, items, maindb, quality, ratings, users
from features.config import FeaturesConfig, features_config
from features.pairs import pair_totals
from features.session import spark_session
from features.source import read_input, staged_dataset
from features.store import FeatureStore
from features.tables import Table, tables
from hz45.errors import ConfigError, Hz45Error
from hz45.settings import Settings

log = logging.getLogger("features.jobs")  # also when run as a script by spark-submit


class Run:
    """One run of the jobs: its dataset, date, session, store and report."""

    def __init__(self, settings: Settings, spark: SparkSession, dataset: str, run_date: date,
                 input_dir: Path | None = None):
        self.settings, self.spark, self.dataset, self.run_date = settings, spark, dataset, run_date
        self.input_dir = input_dir
        self.cfg: FeaturesConfig = features_config(settings)
        self.tables: dict[str, Table] = tables(self.cfg)
        features_dir = settings.path(settings.data.features_dir)
        self.staging_root = features_dir / "_input"
        self.store = FeatureStore(spark, str(features_dir), dataset, run_date)
        # Events at or after the end of the run date are in the future for this run.
        self.as_of = datetime.combine(run_date + timedelta(days=1), clock(0), tzinfo=timezone.utc)
        self.report: dict[str, Any] = {"dataset": dataset, "run_date": run_date.isoformat(), "rows": {}}
        self._cached: dict[str, DataFrame] = {}

    def publish(self, df: DataFrame, name: str, rows: tuple[int, int]) -> int:
        """Check `df` as table `name` and write it to the store (and the main DB when it is a SQL
        table); return its rows."""
        table = self.tables[name]
        df = df.select(*table.names).persist(StorageLevel.MEMORY_AND_DISK)
        seconds = {}
        try:
            began = time.monotonic()
            n = quality.check(df, table, rows)
            seconds["compute and check"] = time.monotonic() - began
            began = time.monotonic()
            self.store.write(df, name, n)
            seconds["store"] = time.monotonic() - began
            if table.sql and self.cfg.sql.enabled:
                began = time.monotonic()
                sql = self.cfg.sql
                maindb.write_table(df, table, self.settings, self.dataset, self.run_date, sql.writers, sql.batch_rows)
                seconds["main DB"] = time.monotonic() - began
        finally:
            df.unpersist()
        self.report["rows"][name] = n
        log.info("features: %s %s %s: %d rows (%s)", self.dataset, self.run_date, name, n,
                 ", ".join(f"{step} {s:.1f} s" for step, s in seconds.items()))
        return n

    def cached(self, name: str, make: Callable[[], DataFrame]) -> DataFrame:
        """A frame shared by the jobs of this run, computed and cached once."""
        if name not in self._cached:
            self._cached[name] = make().persist(StorageLevel.MEMORY_AND_DISK)
        return self._cached[name]

    def release(self) -> None:
        for df in self._cached.values():
            df.unpersist()
        self._cached.clear()

    def pairs(self) -> DataFrame:
        return self.cached("pairs", lambda: pair_totals(self.store.read("clean_events"), self.as_of,
                                                        self.cfg.trend_days))

    @contextmanager
    def input_folder(self) -> Iterator[Path]:
        if self.input_dir is not None:
            yield self.input_dir
        else:
            with staged_dataset(self.dataset, self.staging_root) as folder:
                yield folder


def clean_job(run: Run) -> None:
    cfg, spark = run.cfg, run.spark
    with run.input_folder() as folder:
        raw = read_input(spark, folder)
        raw_tracks, raw_events = raw.tracks.count(), raw.events.count()
        tracks = clean.clean_tracks(raw.tracks, run.as_of)
        tagged = clean.reject_reason(clean.typed_events(raw.events), tracks.select("item_id"), run.as_of, cfg.ratings)
        # Read and tagged once, counted per rule, then deduplicated.
        tagged = tagged.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            rejected = clean.rejected_counts(tagged)
            valid = raw_events - sum(rejected.values())
            kept = run.publish(clean.clean_events(tagged), "clean_events",
                               (_at_least(raw_events, cfg.quality.max_event_drop_fraction), valid))
        finally:
            tagged.unpersist()
        rejected[clean.DUPLICATE] = valid - kept
        run.report["rejected_events"] = rejected

        clustering = clusters.cluster_tracks(tracks, cfg.clusters, run.settings.data.seed)
        run.publish(clustering.tracks, "tracks", (_at_least(raw_tracks, cfg.quality.max_item_drop_fraction), raw_tracks))
        k = clustering.k or 0
        centers = spark.createDataFrame(clustering.centers, run.tables["cluster_centers"].schema())
        run.publish(centers, "cluster_centers", (k, k))
        run.report.update(k=clustering.k, silhouettes=clustering.silhouettes)


def items_job(run: Run) -> None:
    tracks = run.store.read("tracks")
    n = tracks.count()
    run.publish(items.item_features(tracks, run.pairs()), "item_features", (n, n))


def users_job(run: Run) -> None:
    events, tracks = run.store.read("clean_events"), run.store.read("tracks")
    n_users = events.select("user_id").distinct().count()
    pairs = run.pairs()
    engaged = users.engaged_tracks(pairs, tracks).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        features, by_cluster, by_genre = users.user_features(pairs, engaged, run.as_of, run.cfg.affinity_top_n)
        run.publish(features, "user_features", (n_users, n_users))
        most = n_users * run.cfg.affinity_top_n
        run.publish(by_cluster, "user_cluster_affinity", (0, most))
        run.publish(by_genre, "user_genre_affinity", (0, most))
    finally:
        engaged.unpersist()


def charts_job(run: Run) -> None:
    events, tracks = run.store.read("clean_events"), run.store.read("tracks")
    features = run.store.read("item_features")
    top_n = run.cfg.chart_top_n
    run.publish(charts.hourly_plays(events, run.as_of, run.cfg.chart_hours), "chart_hourly_plays", (0, events.count()))
    for by, table in (("genre", "chart_top_genre"), ("cluster", "chart_top_cluster")):
        values = features.where(F.col(by).isNotNull()).select(by).distinct().count()
        run.publish(charts.top_tracks(features, tracks, by, top_n), table, (0, values * top_n))


def training_job(run: Run) -> None:
    events = run.store.read("clean_events")
    source = ratings.rating_source(events, run.cfg.ratings)
    n = ratings.source_events(events, source).count()
    table = ratings.ratings(events, run.pairs(), source, run.cfg.ratings, run.cfg.splits, run.settings.data.seed)
    run.publish(table, "ratings", (min(n, 1), n))
    run.report["rating_source"] = source


JOBS: dict[str, Callable[[Run], None]] = {
    "clean": clean_job,
    "items": items_job,
    "users": users_job,
    "charts": charts_job,
    "training": training_job,
}


def build(settings: Settings, run_date: date, dataset: str | None = None, jobs: Sequence[str] | None = None,
          input_dir: Path | None = None, spark: SparkSession | None = None) -> dict[str, Any]:
    """Run `jobs` (all, in order, by default) for `run_date` on `dataset` (features.dataset by
    default; `input_dir`: a folder of canonical Parquet tables to read instead of the catalog);
    return the run's report. Uses `spark`, else the active session, else starts and stops one."""
    cfg = features_config(settings)
    chosen = list(jobs or JOBS)
    unknown = [j for j in chosen if j not in JOBS]
    if unknown:
        raise ConfigError(f"features: unknown job '{unknown[0]}'", f"jobs: {', '.join(JOBS)}")
    owned = spark is None and SparkSession.getActiveSession() is None
    session = spark or spark_session(settings)
    run = Run(settings, session, dataset or cfg.dataset, run_date, input_dir)
    started = time.monotonic()
    try:
        for name in (j for j in JOBS if j in chosen):
            began = time.monotonic()
            JOBS[name](run)
            run.report.setdefault("seconds", {})[name] = round(time.monotonic() - began, 1)
    finally:
        run.release()
        if owned:
            session.stop()
    run.report["seconds"]["total"] = round(time.monotonic() - started, 1)
    return run.report


def _at_least(total: int, drop_fraction: float) -> int:
    return math.ceil(total * (1.0 - drop_fraction))


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"features: --date '{text}' is not a date", "use YYYY-MM-DD") from None


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit entry point."""
    from hz45.settings import get_settings

    parser = argparse.ArgumentParser(prog="features/jobs.py", description="Run the Spark feature jobs for a date.")
    parser.add_argument("--date", required=True, help="run date, YYYY-MM-DD")
    parser.add_argument("--dataset", help="catalog dataset (default: features.dataset)")
    parser.add_argument("--job", action="append", choices=list(JOBS), help="a job to run (repeatable; default all)")
    parser.add_argument("--input", type=Path, help="folder of canonical Parquet tables (events, tracks)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        report = build(get_settings(), parse_date(args.date), args.dataset, args.job, args.input)
    except Hz45Error as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
