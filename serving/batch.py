"""Serving's batch side, run after a retrain.

- `precompute_recommendations`: the champion's list for every listener of the main DB, written to
  its `recommendations` table with the model version: the answer the HTTP API gives a listener
  without recent plays, ready for a backend that reads the database instead.
- `confirm_served`: a running app follows the alias by itself (serving.watcher), so nothing has
  to be sent to it; this waits until the app reports the new version, and does nothing when no
  app is running (it loads the champion when it starts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hz45.errors import Hz45Error, ServiceUnavailable
from hz45.settings import Settings
from hz45.stores import schema
from hz45.stores.sql import get_engine
from hz45.stores.upsert import upsert
from serving.config import serving_config
from serving.registry import NoChampion, Registry, tracking_uri

REASON_CHARS = schema.recommendations.c.reason.type.length


@dataclass(frozen=True)
class Precomputed:
    model_name: str
    model_version: str
    listeners: int
    rows: int
    cold_start: int  # listeners the model did not know (they get its cold-start list)
    removed: int  # rows of earlier runs and versions that were replaced
    seconds: float


def listeners(engine: Engine, dataset: str) -> list[int]:
    """Every listener of the main DB, which must hold `dataset` (ids of two datasets collide)."""
    schema.init_db(engine)
    with engine.connect() as conn:
        held = [name for (name,) in conn.execute(sa.select(schema.dataset_loads.c.dataset))]
        users = [int(u) for (u,) in conn.execute(sa.select(schema.users.c.user_id).order_by(schema.users.c.user_id))]
    if held != [dataset]:
        raise Hz45Error(
            f"the main DB holds {', '.join(held) or 'no dataset'}, not '{dataset}': its listeners' ids would be wrong",
            f"load it with `hz45 db load {dataset}` (or ingest it) first",
        )
    return users


def precompute_recommendations(settings: Settings, dataset: str, n: int, engine: Engine | None = None) -> Precomputed:
    """Write the champion's top `n` for every listener of the main DB (which holds `dataset`);
    the model's earlier lists are replaced."""
    started = time.monotonic()
    config = serving_config(settings)
    engine = engine or get_engine(settings=settings)
    users = listeners(engine, dataset)
    registry = Registry(tracking_uri(settings), config.model_name, config.alias)
    try:
        ref = registry.resolve()
    except NoChampion as exc:
        raise Hz45Error(str(exc)) from None
    model = registry.load(ref).model
    created = datetime.now(timezone.utc)
    rows, cold = [], 0
    for user in users:
        answer = model.recommend(user, n, [], [])
        cold += answer.cold_start
        rows.extend(
            (user, rank, item.item_id, item.score, item.reason[:REASON_CHARS])
            for rank, item in enumerate(answer.items, 1)
        )
    frame = pd.DataFrame(rows, columns=["user_id", "rank", "track_id", "score", "reason"])
    frame = frame.assign(model_name=ref.name, model_version=ref.version, created_at=created)
    written = upsert(schema.recommendations, frame, engine)
    table = schema.recommendations
    with engine.begin() as conn:
        # Rows of this model not rewritten now: other versions, and ranks beyond a smaller n.
        stale = sa.and_(table.c.model_name == ref.name, table.c.created_at < created.replace(tzinfo=None))
        removed = conn.execute(table.delete().where(stale)).rowcount
    return Precomputed(ref.name, ref.version, len(users), written, cold, removed, round(time.monotonic() - started, 1))


def confirm_served(settings: Settings, version: str, timeout_s: float) -> str:
    """Wait until the serving app reports `version`; 'serving' then, 'not running' when no app
    answers. Raises ServiceUnavailable when the app still serves another version after `timeout_s`."""
    config = serving_config(settings)
    url = f"http://{config.host}:{config.port}/model"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.get(url, timeout=5)
        except httpx.TransportError:
            return "not running"
        served = response.json().get("version") if response.status_code == 200 else None
        if served == version:
            return "serving"
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(
                f"serving at {url} reports version {served or 'none'}, not {version}, after {timeout_s:.0f}s",
                "check the app's log for a failed model load",
            )
        time.sleep(min(config.watch_interval_s, 1.0))
