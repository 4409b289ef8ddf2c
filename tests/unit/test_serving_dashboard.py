"""The dashboard's figures on hand-made cases: minute buckets and their edges, the skip rate, the
online figures' attribution window and first-answer rule, version order, snapshot reuse, top tracks on an
embedded SQLite main DB, and the page's assets."""

import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hz45.settings import load_settings
from serving.dashboard import DashboardConfig, DashboardData, dashboard_router
from serving.dashboard_data import (
    Event,
    ServedList,
    finite_metrics,
    online_figures,
    per_minute,
    ratio,
    top_tracks,
    utc,
    window_start,
)
from streaming import sinks

NOW = datetime(2026, 3, 1, 12, 30, 42, tzinfo=timezone.utc)
START = window_start(NOW, 60)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_window_is_sixty_whole_minutes_ending_with_the_current_one():
    assert START == datetime(2026, 3, 1, 11, 31, tzinfo=timezone.utc)
    minute = per_minute([], START, 60)
    assert minute["minutes"][0] == "11:31" and minute["minutes"][-1] == "12:30"


def test_events_fall_in_their_minute_and_outside_ones_are_dropped():
    events = [
        Event(at(0), "play", 1, 1),                       # first bucket, on its edge
        Event(at(0.99), "skip", 1, 1),
        Event(at(59.7), "like", 1, 1),                    # the current, partial minute
        Event(at(-0.01), "play", 1, 1),                   # just before the window
        Event(at(60), "play", 1, 1),                      # after now (clock skew): not drawn
    ]
    minute = per_minute(events, START, 60)
    assert minute["counts"]["play"][0] == 1 and sum(minute["counts"]["play"]) == 1
    assert minute["counts"]["skip"][0] == 1
    assert minute["counts"]["like"][59] == 1
    assert minute["skip_rate"][0] == 0.5 and minute["skip_rate"][1] is None


def test_ratio_of_nothing_is_none():
    assert ratio(0, 0) is None and ratio(1, 4) == 0.25


def test_online_figures_count_the_first_answer_inside_the_window():
    served = at(10)
    window = timedelta(minutes=30)
    lists = [ServedList(served, 7, [1, 2, 3, 4, 5], "m", "4")]
    events = [
        Event(served, "play", 7, 1),                              # at the very moment: not after it
        Event(served + timedelta(minutes=30), "play", 7, 2),      # on the window's end: counted
        Event(served + timedelta(minutes=30, seconds=1), "play", 7, 3),
        Event(served + timedelta(minutes=3), "skip", 7, 4),       # skipped first...
        Event(served + timedelta(minutes=1), "like", 7, 4),       # (a like is no answer)
        Event(served + timedelta(minutes=4), "play", 7, 4),       # ...then played: still a skip
        Event(served + timedelta(minutes=2), "play", 8, 5),       # another listener
    ]
    [row] = online_figures(lists, events, window)
    assert row == {"model_name": "m", "model_version": "4", "lists": 1, "tracks": 5, "played": 1, "skipped": 1,
                   "played_share": 0.2, "skipped_share": 0.2}


def test_online_figures_per_version_newest_first():
    lists = [ServedList(at(1), 1, [1], "m", v) for v in ("9", "10", "2")]
    assert [r["model_version"] for r in online_figures(lists, [], timedelta(minutes=5))] == ["10", "9", "2"]


def test_naive_times_from_pymongo_are_utc():
    assert utc(datetime(2026, 1, 1, 5)) == datetime(2026, 1, 1, 5, tzinfo=timezone.utc)


def test_metrics_that_json_cannot_carry_are_left_out():
    assert finite_metrics({"b": 1, "a": 0.5, "nan": float("nan"), "inf": float("inf")}) == {"a": 0.5, "b": 1.0}


def test_top_tracks_without_a_chart_then_with_one(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/main.db")
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    assert top_tracks(engine, hour, 10) is None  # the streaming job has not run yet
    sinks.metadata.create_all(engine)
    ms = int(hour.timestamp() * 1000)
    counts = pd.DataFrame([(ms, 5, 3), (ms, 6, 9), (ms - 3_600_000, 7, 50)], columns=["hour_start", "track_id", "plays"])
    sinks.add_chart_plays(engine, "q", 0, counts)
    # No track table yet: ids only.
    assert top_tracks(engine, hour, 1) == [{"track_id": 6, "plays": 9, "title": None, "artist": None}]


@pytest.fixture
def client():
    def no_model():
        raise AssertionError("the page and its assets must not ask for the model")

    app = FastAPI()
    app.include_router(dashboard_router(no_model, load_settings(environ={}), DashboardConfig()))
    return TestClient(app)


def test_page_and_assets_are_served_and_nothing_else(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and "<canvas id=\"events-chart\">" in page.text
    assert "http" not in page.text.split("<body>")[0]  # no asset from another site
    script = client.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/dashboard/static/nope.js").status_code == 404
    assert client.get("/dashboard/static/%2E%2E/%2E%2E/dashboard.py").status_code == 404


class GatedReads(DashboardData):
    """Reads that are counted and, while `gate` is closed, wait for it, in place of the stores."""

    def __init__(self, refresh_s: float, read_s: float = 0.0):
        super().__init__(load_settings(environ={}), DashboardConfig(refresh_s=refresh_s), lambda: {})
        self.read_s = read_s
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()
        self.reading = threading.Event()

    def compute(self, now):
        self.reads += 1
        self.reading.set()
        self.gate.wait(10)
        time.sleep(self.read_s)
        return {"read": self.reads}


def test_one_read_at_a_time_and_pollers_get_the_last_snapshot_meanwhile():
    data = GatedReads(refresh_s=0.01)
    assert data.snapshot()["read"] == 1
    time.sleep(0.05)
    data.gate.clear()
    data.reading.clear()
    refreshing = threading.Thread(target=data.snapshot)
    refreshing.start()
    assert data.reading.wait(10)
    # Answered while the second read still waits at its gate: the previous snapshot.
    assert data.snapshot()["read"] == 1 and not data.gate.is_set()
    data.gate.set()
    refreshing.join(10)
    assert data.snapshot()["read"] == 2 and data.reads == 2


def test_a_slow_read_is_held_longer_than_the_poll_interval():
    data = GatedReads(refresh_s=0.01, read_s=0.5)
    data.snapshot()
    time.sleep(0.2)  # past refresh_s, well within 3 x the read's time
    assert data.snapshot()["read"] == 1 and data.reads == 1
