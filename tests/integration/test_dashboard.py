"""The listening dashboard in real headless Chromium (Debian's package, driven by Playwright)
against the real MongoDB-compatible server and a real main DB: the dashboard router in a FastAPI
app under uvicorn on 127.0.0.1, fed by the streaming job's and the log sink's own writers with a
known set of events, live chart counts and served lists. Checks what the charts hold, that the
page follows new events, and saves a screenshot to tests/artifacts/dashboard.png."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from hz45.settings import load_settings
from hz45.stores import mongo as mongo_store
from hz45.stores import schema
from hz45.stores import sql as sql_store
from serving.dashboard import CHART_JS, STATIC, DashboardConfig, dashboard_router
from serving.reclog import log_record, write_batch
from serving.registry import NoChampion
from streaming import sinks

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
CHARTS = ("events-chart", "skip-chart", "top-chart", "online-chart")
MODEL = "hz45-hybrid"
CHAMPION = {
    "name": MODEL, "version": "3", "alias": "champion", "run_id": "run-3",
    # The NaN stands for a metric whose evaluation failed: the page leaves it out.
    "metrics": {"ndcg_at_10": 0.3125, "precision_at_10": 0.1188, "failed_metric": math.nan},
    "loaded_at": "2026-01-01T00:00:00+00:00",
}
TRACKS = {1: ("Blue Monday", 10), 2: ("Heroes", 11), 3: ("Teardrop", 12)}
ARTISTS = {10: "New Order", 11: "David Bowie", 12: "Massive Attack"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed by the project's script when missing (CI starts bare)."""
    done = subprocess.run([str(ROOT / "scripts" / "install_chromium.sh")], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"Chromium could not be installed: {done.stderr.strip()}", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="module")
def bundled() -> None:
    if not (STATIC / CHART_JS).is_file():
        pytest.fail("Chart.js is not bundled into the package: run scripts/build_dashboard.sh", pytrace=False)


@pytest.fixture
def settings(tmp_path):
    run = uuid.uuid4().hex[:8]
    env = {
        "HZ45_MONGO__DATABASE": f"hz45_dashboard_test_{run}",
        "HZ45_STREAMING__EVENTS_COLLECTION": f"events_{run}",
        "HZ45_SERVING__LOG_SINK__COLLECTION": f"recommendation_log_{run}",
        "HZ45_SQL__URL": f"sqlite:///{tmp_path}/main.db",
    }
    settings = load_settings(environ={**os.environ, **env})
    database = mongo_store.get_database(settings)  # fails loudly when the server is away
    yield settings
    database.client.drop_database(database.name)


def serve(router) -> tuple[str, uvicorn.Server, threading.Thread]:
    app = FastAPI()
    app.include_router(router)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{server.config.port}", server, thread


@pytest.fixture
def running():
    """Starts routers under uvicorn and stops them at the end of the test."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(router) -> str:
        url, server, thread = serve(router)
        started.append((server, thread))
        return url

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(10)


def clear_of_hour_end() -> datetime:
    """Now, at least a minute before the hour ends, so that 'this hour' cannot change under the test."""
    now = datetime.now(timezone.utc)
    left = 3600 - (now.minute * 60 + now.second)
    if left < 60:
        time.sleep(left + 1)
        now = datetime.now(timezone.utc)
    return now


def event(n: int, listener: int, track: int, kind: str, at: datetime) -> dict:
    return {"schema_version": 1, "event_id": f"e-{n}", "listener_id": listener, "track_id": track, "type": kind,
            "timestamp": int(at.timestamp() * 1000), "ms_played": 30_000 if kind == "play" else 4_000,
            "session_id": f"s-{listener}", "client": "web"}


def served(request: str, listener: int, items: list[int], version: str, at: datetime) -> bytes:
    record = log_record(request_id=request, listener_id=listener, items=items, scores=[1.0] * len(items),
                        model_name=MODEL, model_version=version, cold_start=False, cached=False, latency_ms=3.0)
    return json.dumps({**record, "served_at": at.isoformat()}).encode()


def load_known_data(settings, now: datetime) -> dict:
    """Writes the fixture through the writers the product uses; returns what the page must show."""
    database = mongo_store.get_database(settings)
    events: list[dict] = []

    def add(listener: int, track: int, kind: str, at: datetime) -> None:
        events.append(event(len(events), listener, track, kind, at))

    # Background traffic over the last 50 minutes (inside the 60-minute window).
    for m in range(50):
        at = now - timedelta(minutes=50 - m, seconds=-5)
        for i in range(3 + m % 5):
            add(200 + i, 1 + (m + i) % 3, "play", at)
        for i in range(m % 3):
            add(210 + i, 2, "skip", at)
        if m % 4 == 0:
            add(220, 3, "like", at)
        if m % 7 == 0:
            add(221, 2, "dislike", at)
    # Answers to the served lists below (times relative to when each list was served).
    l1, l2, l3 = now - timedelta(minutes=40), now - timedelta(minutes=10), now - timedelta(minutes=50)
    add(101, 1, "play", l1 + timedelta(minutes=2))     # played
    add(101, 2, "skip", l1 + timedelta(minutes=5))     # skipped
    add(101, 3, "play", l1 + timedelta(minutes=35))    # after the 30-minute attribution window
    add(101, 4, "play", l1 - timedelta(minutes=1))     # before the list was served
    add(102, 5, "skip", l2 + timedelta(minutes=1))     # skipped: the first answer counts...
    add(102, 5, "play", l2 + timedelta(minutes=2))     # ...not this later play
    add(103, 6, "play", l3 + timedelta(minutes=10))    # played
    in_window = list(events)
    # Outside the window: left out of every figure.
    add(200, 1, "play", now - timedelta(hours=2))
    add(210, 2, "skip", now - timedelta(hours=2))
    mongo_store.insert_new(database[settings.streaming["events_collection"]], [sinks.event_document(e) for e in events])

    write_batch(database[settings.serving["log_sink"]["collection"]], [
        served("r1", 101, [1, 2, 3, 4], "3", l1),
        served("r2", 102, [1, 5], "3", l2),
        served("r3", 103, [6, 7], "2", l3),
        served("r0", 103, [6], "2", now - timedelta(hours=2)),
    ])

    engine = sql_store.get_engine(settings=settings)
    schema.init_db(engine)
    sinks.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.artists), [{"artist_id": a, "name": n} for a, n in ARTISTS.items()])
        conn.execute(sa.insert(schema.tracks), [{"track_id": t, "title": title, "artist_id": a} for t, (title, a) in TRACKS.items()])
    hour = int(now.replace(minute=0, second=0, microsecond=0).timestamp() * 1000)

    def plays(rows):
        return pd.DataFrame(rows, columns=["hour_start", "track_id", "plays"])

    # Two micro-batches of this hour (their plays add up) and the previous hour's chart.
    sinks.add_chart_plays(engine, "test-query", 0, plays([(hour, 1, 30), (hour, 2, 25), (hour, 99, 12), (hour - 3_600_000, 5, 500)]))
    sinks.add_chart_plays(engine, "test-query", 1, plays([(hour, 1, 10), (hour, 3, 4)]))

    by_type = Counter(e["type"] for e in in_window)
    return {
        "by_type": {t: by_type.get(t, 0) for t in ("play", "skip", "like", "dislike")},
        "skip_rate": by_type["skip"] / (by_type["play"] + by_type["skip"]),
        "top": (["Blue Monday — New Order", "Heroes — David Bowie", "track 99", "Teardrop — Massive Attack"], [40, 25, 12, 4]),
        "online": {f"{MODEL} v3": (1 / 6, 2 / 6), f"{MODEL} v2": (1 / 2, 0.0)},
    }


def chart_data(page) -> dict:
    return page.evaluate(
        """ids => Object.fromEntries(ids.map(id => {
            const c = Chart.getChart(id);
            return [id, {labels: c.data.labels, datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))}];
        }))""",
        list(CHARTS),
    )


def test_dashboard_in_headless_chromium(chromium, bundled, settings, running):
    from playwright.sync_api import sync_playwright

    now = clear_of_hour_end()
    expected = load_known_data(settings, now)
    url = running(dashboard_router(lambda: CHAMPION, settings, DashboardConfig(refresh_s=1)))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{url}/dashboard")
            page.wait_for_function("window.hz45Dashboard && window.hz45Dashboard.updates >= 1", timeout=30_000)
            assert page.evaluate("window.hz45Dashboard.lastError") is None
            charts = chart_data(page)

            events = charts["events-chart"]
            assert len(events["labels"]) == 60
            assert {d["label"]: sum(d["data"]) for d in events["datasets"]} == expected["by_type"]
            assert page.text_content("#skip-rate") == f"{100 * expected['skip_rate']:.1f} %"
            skip_points = [v for v in charts["skip-chart"]["datasets"][0]["data"] if v is not None]
            assert skip_points and all(0 <= v <= 1 for v in skip_points)

            labels, plays = expected["top"]
            assert charts["top-chart"]["labels"] == labels
            assert charts["top-chart"]["datasets"][0]["data"] == plays

            online = charts["online-chart"]
            shares = {label: (online["datasets"][0]["data"][i], online["datasets"][1]["data"][i])
                      for i, label in enumerate(online["labels"])}
            assert shares.keys() == expected["online"].keys()
            for label, (played, skipped) in expected["online"].items():
                assert shares[label] == pytest.approx((played, skipped))

            assert page.text_content("#champion-version") == f"{MODEL} v3"
            offline = page.locator("#offline-metrics td").all_text_contents()
            assert offline == ["ndcg_at_10", "0.3125", "precision_at_10", "0.1188"]
            assert "16.7 %" in page.locator("#online-metrics").text_content()  # v3 played 1 of 6

            # Nothing is fetched from another host: Chart.js comes from the package.
            assert requests and all(r.startswith(url) for r in requests)

            # The page follows the log: new events show up on a later poll without a reload.
            before = page.evaluate("window.hz45Dashboard.updates")
            database = mongo_store.get_database(settings)
            mongo_store.insert_new(database[settings.streaming["events_collection"]], [
                sinks.event_document(event(10_000 + i, 230, 1, "like", datetime.now(timezone.utc))) for i in range(7)
            ])
            page.wait_for_function(
                f"""() => window.hz45Dashboard.updates > {before} && Chart.getChart('events-chart').data.datasets
                    .find(d => d.label === 'like').data.reduce((a, b) => a + b, 0) === {expected['by_type']['like'] + 7}""",
                timeout=15_000,
            )

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()


def test_data_without_champion_or_mongodb(settings, running):
    """The data stays available when parts are missing: no champion yet, MongoDB away."""

    def no_champion():
        raise NoChampion("no version of model 'hz45-hybrid' has alias 'champion' yet")

    away = settings.model_copy(update={"mongo": settings.mongo.model_copy(update={"uri": f"mongodb://127.0.0.1:{free_port()}/", "timeout_ms": 300})})
    url = running(dashboard_router(no_champion, away, DashboardConfig(refresh_s=1)))
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/dashboard")
        data = client.get("/dashboard/data")
        missing = client.get("/dashboard/static/../dashboard.py")
    assert page.status_code == 200 and "dashboard/static/vendor/chart.umd.min.js" in page.text
    assert data.status_code == 200
    body = data.json()
    assert body["champion"] is None and "has alias 'champion'" in body["champion_error"]
    assert "does not answer" in body["errors"]["events"] and "events" not in body
    assert body["top_tracks"] is None  # the main DB answers; the streaming job has made no chart yet
    assert missing.status_code == 404
