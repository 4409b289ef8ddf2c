"""`make demo`: the whole loop on one machine, each stage run through its own `hz45` command.

The demo drives the stages as separate processes (as Airflow or an operator would), so the core
stays free of imports from the stage packages and every step is a command a reader can rerun.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hz45.errors import Hz45Error
from hz45.settings import ROOT, Settings, get_settings, load_settings

HZ45 = [sys.executable, "-m", "hz45.cli"]


class DemoConfig(BaseModel):
    """The `demo:` section."""

    model_config = ConfigDict(extra="forbid")

    mlflow_port: int = Field(gt=0, lt=65536)
    listener: int = Field(ge=0)
    reaction_timeout_s: int = Field(gt=0)


@dataclass
class DemoPlan:
    """Sizes of one demo run: the default fits in minutes on a laptop; `small` is the e2e test's."""

    dataset: str = "lastfm-spotify"
    svd_trials: int = 6
    ncf_trials: int = 2
    blend_trials: int = 6
    tune_users: int | None = None
    replay_events: int = 20_000
    replay_rate: int = 2_000
    burst: int = 12
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def small(cls) -> "DemoPlan":
        return cls(svd_trials=2, ncf_trials=1, blend_trials=2, tune_users=300, replay_events=3_000, burst=8)


def _banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _run(args: list[str], env: dict[str, str], timeout: float = 1800) -> float:
    started = time.monotonic()
    print("$ hz45 " + " ".join(args), flush=True)
    done = subprocess.run(HZ45 + args, cwd=ROOT, env=env, timeout=timeout)
    if done.returncode != 0:
        raise Hz45Error(f"demo: `hz45 {' '.join(args)}` failed with exit code {done.returncode}", "see its output above")
    return time.monotonic() - started


def _background(args: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> subprocess.Popen:
    """Start a long-running command in its own process group; the stack stops it on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = stack.enter_context(open(log, "ab"))
    print(f"$ {' '.join(args[2:] if args[:2] == [sys.executable, '-m'] else args)} &   (log: {log})", flush=True)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    stack.callback(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Hz45Error(f"demo: the process behind {url} exited with code {proc.returncode}", f"see {log}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise Hz45Error(f"demo: {url} did not answer within {timeout:.0f}s", f"see {log}")


def _recommendations(base: str, user_id: int) -> dict:
    response = httpx.get(f"{base}/recommendations/{user_id}", params={"n": 10}, timeout=30)
    response.raise_for_status()
    return response.json()


def _burst(base: str, user_id: int, tracks: list[int], plan: DemoPlan) -> None:
    """A listener plays the first half of `tracks` to the end and skips the rest after 5 s."""
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    session = f"demo-{uuid.uuid4().hex[:8]}"
    half = len(tracks) // 2
    for i, track in enumerate(tracks):
        played = i < half
        event = {
            "schema_version": 1,
            "event_id": f"{session}-{i}",
            "listener_id": user_id,
            "track_id": int(track),
            "type": "play" if played else "skip",
            "timestamp": now + i * 1000,
            "ms_played": 200_000 if played else 5_000,
            "session_id": session,
            "client": "demo",
        }
        httpx.post(f"{base}/events", json=event, timeout=10).raise_for_status()


def _ids(payload: dict) -> list[int]:
    return [item["item_id"] for item in payload["items"]]


def _print_list(title: str, payload: dict) -> None:
    model = payload["model"]
    print(f"{title} ({model['name']} version {model['version']}, cold start {payload['cold_start']}, "
          f"streamed features {payload['online_features']})")
    for rank, item in enumerate(payload["items"], 1):
        print(f"  {rank:>2}. track {item['item_id']:>8}  score {item['score']:.3f}  {item['reason']}")


def run_demo(plan: DemoPlan, keep_running: bool = False, settings: Settings | None = None) -> dict:
    """Run the loop; returns what each stage produced (the e2e test asserts on it)."""
    from hz45 import services

    # TensorFlow's start-up notices would bury the demo's own output; a user's setting still wins.
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, **plan.env}
    settings = settings or (load_settings(environ=env) if plan.env else get_settings())
    config = settings.section("demo", DemoConfig)
    logs = settings.path(settings.services.run_dir) / "demo"
    outcome: dict = {"timings": {}}
    dataset = ["--dataset", plan.dataset]
    users = ["--users", str(plan.tune_users)] if plan.tune_users else []

    _banner("1/7 local servers")
    for state in services.up(settings=settings):
        print(f"  {state.name:8} {state.address:16} {state.detail}")

    _banner("2/7 main DB: schema and the music dataset")
    outcome["timings"]["load"] = _run(["db", "init"], env) + _run(["db", "load", plan.dataset], env)

    _banner("3/7 Spark feature job")
    outcome["timings"]["features"] = _run(["features", "build", "--date", date.today().isoformat(), *dataset], env)

    with ExitStack() as stack:
        # The streaming job starts now so that its JVM, Kafka connector and Python workers are
        # warm by the time events are replayed; until then it idles on an empty topic.
        stream = _background(HZ45 + ["stream", "run"], env, logs / "stream.log", stack)

        _banner("4/7 Ray Tune sweeps, tracked in MLflow, best trials registered")
        t = _run(["tune", "svd", *dataset, *users, "--trials", str(plan.svd_trials)], env)
        t += _run(["register", "svd"], env)
        t += _run(["tune", "ncf", *dataset, *users, "--trials", str(plan.ncf_trials)], env)
        t += _run(["register", "ncf"], env)
        outcome["timings"]["sweeps"] = t

        _banner("5/7 hybrid: blend sweep, registered as challenger, promotion gate")
        t = _run(["tune", "hybrid", "--trials", str(plan.blend_trials)], env)
        t += _run(["register", "hybrid"], env)
        t += _run(["promote"], env)
        outcome["timings"]["promotion"] = t

        _banner("6/7 serving, replayed listening events and the MLflow UI")
        # The serving section is validated by the serving app itself; the demo needs its address only.
        base = f"http://{settings.serving['host']}:{settings.serving['port']}"
        mlflow_ui = f"http://127.0.0.1:{config.mlflow_port}"
        _background(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", settings.mlflow.tracking_uri,
             "--artifacts-destination", str(settings.path(settings.mlflow.artifact_root)),
             "--host", "127.0.0.1", "--port", str(config.mlflow_port), "--workers", "1"],
            env, logs / "mlflow.log", stack)
        serve = _background(HZ45 + ["serve"], env, logs / "serve.log", stack)
        _wait_http(f"{base}/healthz", serve, logs / "serve.log", timeout=600)
        model = httpx.get(f"{base}/model", timeout=10).json()
        outcome["model"] = model
        print(f"  serving {model.get('name')} version {model.get('version')} ({model.get('alias')})")
        _run(["stream", "replay", *dataset, "--rate", str(plan.replay_rate), "--limit", str(plan.replay_events), "--clock", "live"], env)
        if stream.poll() is not None:
            raise Hz45Error(f"demo: the streaming job exited with code {stream.returncode}", f"see {logs / 'stream.log'}")

        _banner("7/7 a listener's recommendations before and after a burst of plays and skips")
        user_id = config.listener
        before = _recommendations(base, user_id)
        _print_list(f"listener {user_id}, before", before)
        similar = httpx.get(f"{base}/tracks/{before['items'][-1]['item_id']}/similar", params={"n": plan.burst}, timeout=30)
        similar.raise_for_status()
        burst_tracks = [row["item_id"] for row in similar.json()["items"]]
        sent = time.monotonic()
        _burst(base, user_id, burst_tracks, plan)
        after = before
        while time.monotonic() - sent < config.reaction_timeout_s and _ids(after) == _ids(before):
            time.sleep(1)
            after = _recommendations(base, user_id)
        outcome["before"], outcome["after"] = before, after
        outcome["reacted_in_s"] = round(time.monotonic() - sent, 1)
        if _ids(after) == _ids(before):
            print(f"  the list did not change within {config.reaction_timeout_s} s: see {logs / 'stream.log'}")
        _print_list(f"listener {user_id}, after {len(burst_tracks)} events ({outcome['reacted_in_s']} s later)", after)

        print(f"\nMLflow UI       {mlflow_ui}")
        print(f"Serve endpoint  {base}/recommendations/{user_id}")
        print(f"API docs        {base}/docs")
        print(f"Dashboard       {base}/dashboard")
        if keep_running:
            print("\nrunning; Ctrl-C stops everything the demo started")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    print(json.dumps(outcome["timings"], indent=None))
    return outcome
