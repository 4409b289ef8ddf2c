"""The listening dashboard, served by the serving app: the page at /dashboard, its assets (Chart.js
bundled into the package by scripts/build_dashboard.sh, nothing loaded from elsewhere) and the
JSON it polls at /dashboard/data.

The data endpoint is kept off the recommendation path: it is a plain function, so FastAPI runs it
on its thread pool rather than on the event loop that answers /recommendations, and each replica
reads the stores at most once per `refresh_s` however many pages poll it (one snapshot is shared,
held longer when reading it is slow).
A store that is down shows as a message in its panels; the rest of the page still updates.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError
from sqlalchemy.exc import SQLAlchemyError

from hz45.errors import Hz45Error
from hz45.settings import Settings, get_settings
from hz45.stores import mongo as mongo_store
from hz45.stores import sql as sql_store
from serving import dashboard_data as figures
from serving.config import serving_config
from serving.registry import NoChampion
from streaming.config import load_config as streaming_config

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("dashboard") / "static"
CHART_JS = "vendor/chart.umd.min.js"
BUILD_HINT = "bundle it with scripts/build_dashboard.sh (run by `make venv`)"
STORE_ERRORS = (Hz45Error, PyMongoError, SQLAlchemyError)
# A snapshot is kept at least this many times as long as reading it took.
HOLD_FACTOR = 3


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # A recommended track counts as played or skipped when the listener did so this soon after.
    attribution_minutes: float = Field(default=30.0, gt=0)
    top_tracks: int = Field(default=10, ge=1, le=100)
    # Upper bounds on what one refresh reads from MongoDB (the newest documents are kept).
    max_events: int = Field(default=200_000, ge=1)
    max_lists: int = Field(default=20_000, ge=1)
    # How often the page polls, and how long a replica reuses one snapshot of the stores.
    refresh_s: float = Field(default=5.0, gt=0)


class DashboardData:
    """Reads the stores and keeps the last snapshot for `refresh_s`."""

    def __init__(self, settings: Settings, config: DashboardConfig, model_info: Callable[[], dict[str, Any]]):
        self.settings = settings
        self.config = config
        self.model_info = model_info
        self.events_collection = streaming_config(settings).events_collection
        self.log_collection = serving_config(settings).log_sink.collection
        self._reading = threading.Lock()
        self._snapshot: dict[str, Any] | None = None
        self._taken_at = float("-inf")
        self._hold_s = config.refresh_s

    def snapshot(self) -> dict[str, Any]:
        """The current snapshot, read again once it is older than its hold. One read at a time:
        while it runs, other requests get the previous snapshot (only the very first one waits)."""
        if self._stale() and self._reading.acquire(blocking=self._snapshot is None):
            try:
                if self._stale():
                    started = time.monotonic()
                    snapshot = self.compute(datetime.now(timezone.utc))
                    took = time.monotonic() - started
                    snapshot["read_s"] = round(took, 3)
                    self._snapshot, self._taken_at = snapshot, time.monotonic()
                    # FerretDB scans a whole collection for any time filter, so a read can take
                    # seconds on a long log: holding it a few reads' time long keeps the
                    # dashboard to a small share of the server however slow the reads get.
                    self._hold_s = max(self.config.refresh_s, HOLD_FACTOR * took)
            finally:
                self._reading.release()
        return self._snapshot

    def _stale(self) -> bool:
        return time.monotonic() - self._taken_at >= self._hold_s

    def compute(self, now: datetime) -> dict[str, Any]:
        c = self.config
        start = figures.window_start(now, c.window_minutes)
        hour_start = now.replace(minute=0, second=0, microsecond=0)
        out: dict[str, Any] = {
            "generated_at": now.isoformat(),
            "refresh_s": c.refresh_s,
            "window_minutes": c.window_minutes,
            "attribution_minutes": c.attribution_minutes,
            "hour_start": hour_start.isoformat(),
            "errors": {},
        }
        out.update(self._champion())
        try:
            events, lists = self._read_logs(start)
        except STORE_ERRORS as exc:
            out["errors"]["events"] = out["errors"]["online"] = _message(exc)
        else:
            minute = figures.per_minute(events, start, c.window_minutes)
            plays, skips = sum(minute["counts"]["play"]), sum(minute["counts"]["skip"])
            out["events"] = {
                **minute,
                "total": len(events),
                "by_type": {t: sum(v) for t, v in minute["counts"].items()},
                # The read keeps the newest max_events; older ones of the window are left out.
                "truncated": len(events) >= c.max_events,
            }
            out["skip_rate"] = figures.ratio(skips, plays + skips)
            out["online"] = figures.online_figures(lists, events, timedelta(minutes=c.attribution_minutes))
            out["lists_truncated"] = len(lists) >= c.max_lists
        try:
            out["top_tracks"] = figures.top_tracks(
                sql_store.get_engine(settings=self.settings), hour_start, c.top_tracks
            )
        except STORE_ERRORS as exc:
            out["errors"]["top_tracks"] = _message(exc)
        return out

    def _read_logs(self, start: datetime) -> tuple[list[figures.Event], list[figures.ServedList]]:
        db = mongo_store.get_database(self.settings)
        events, lists = db[self.events_collection], db[self.log_collection]
        # Lists served before the window can still be answered inside it, but their answers may
        # predate the window's events, so only lists served within the window are counted.
        return (
            figures.read_events(events, start, self.config.max_events),
            figures.read_lists(lists, start, self.config.max_lists),
        )

    def _champion(self) -> dict[str, Any]:
        try:
            info = self.model_info()
        except NoChampion as exc:
            return {"champion": None, "champion_error": str(exc)}
        return {
            "champion": {**info, "metrics": figures.finite_metrics(info.get("metrics") or {})},
            "champion_error": None,
        }


def _message(exc: Exception) -> str:
    if isinstance(exc, Hz45Error):
        return exc.line()
    # The drivers' messages run over many lines (pymongo lists the whole topology): keep the first.
    log.warning("dashboard: %s: %s", type(exc).__name__, exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _assets() -> dict[str, Path]:
    """The files the page may load, by their path under static/ (nothing else is served)."""
    return {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}


def dashboard_router(
    model_info: Callable[[], dict[str, Any]],
    settings: Settings | None = None,
    config: DashboardConfig | None = None,
) -> APIRouter:
    """The dashboard's routes. `model_info` returns the served champion as GET /model does (and
    raises while there is none); the stores are only opened when the data is first asked for."""
    data = DashboardData(settings or get_settings(), config or DashboardConfig(), model_info)
    assets = _assets()
    router = APIRouter(tags=["dashboard"])

    @router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text())

    @router.get("/dashboard/data", summary="The dashboard's figures (a snapshot shared for refresh_s)")
    def dashboard_data() -> dict[str, Any]:
        return data.snapshot()

    @router.get("/dashboard/static/{name:path}", include_in_schema=False)
    def static(name: str) -> Any:
        path = assets.get(name)
        if path is None:
            missing = f"Chart.js is not bundled: {BUILD_HINT}" if name == CHART_JS else f"no asset {name}"
            return JSONResponse(status_code=404, content={"error": missing})
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return router
