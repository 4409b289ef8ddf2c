"""How a local server's process is started, recognised, health-checked and stopped, shown with
small stand-in processes (the real servers are exercised in tests/integration)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from hz45.errors import ConfigError, ServiceUnavailable
from hz45.services import _select
from hz45.services.process import Proc
from hz45.settings import load_settings

# A process that names its folder on its command line, as every server does (its data dir).
SLEEPER = "import sys, time; print('ready', flush=True); time.sleep(120)"
# One that ignores TERM, to show the KILL after the grace period.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"


def spawn(proc: Proc, code: str) -> int:
    return proc.spawn([sys.executable, "-c", code, str(proc.home)])


def wait_ready(proc: Proc) -> None:
    # The log's first line repeats the command (which mentions 'ready'); wait for the output line.
    proc.wait_healthy(lambda: None if "ready" in proc.log_file.read_text().splitlines() else 1 / 0, timeout_s=30)


def test_spawn_writes_pid_and_log_and_stop_removes_them(tmp_path):
    proc = Proc("demo", tmp_path / "demo")
    pid = spawn(proc, SLEEPER)
    assert proc.pid() == pid
    assert proc.pid_file.read_text().strip() == str(pid)
    wait_ready(proc)
    assert proc.stop(grace_s=10) is True
    assert proc.pid() is None and not proc.pid_file.exists()
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]
    assert proc.stop() is False


def test_a_process_that_ignores_term_is_killed_after_the_grace_period(tmp_path):
    proc = Proc("stubborn", tmp_path / "stubborn")
    spawn(proc, STUBBORN)
    wait_ready(proc)
    t0 = time.monotonic()
    assert proc.stop(grace_s=1.0)
    assert 1.0 <= time.monotonic() - t0 < 15
    assert proc.pid() is None


def test_a_pid_file_naming_someone_else_is_ignored_not_killed(tmp_path):
    proc = Proc("foreign", tmp_path / "foreign")
    proc.home.mkdir(parents=True)
    proc.pid_file.write_text(f"{os.getpid()}\n")  # this test process: alive, but not a server of ours
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert proc.stop() is False


def test_a_health_check_that_never_passes_points_at_the_log(tmp_path):
    proc = Proc("silent", tmp_path / "silent")
    spawn(proc, SLEEPER)
    try:
        with pytest.raises(ServiceUnavailable) as err:
            proc.wait_healthy(lambda: 1 / 0, timeout_s=1.0)
        line = err.value.line()
        assert "did not answer within 1s" in line and "ZeroDivisionError" in line
        assert str(proc.log_file) in line and "\n" not in line
    finally:
        proc.stop(grace_s=5)


def test_a_server_that_exits_at_start_is_reported_with_its_last_log_line(tmp_path):
    proc = Proc("crash", tmp_path / "crash")
    proc.spawn([sys.executable, "-c", "import sys; print('bad option --foo'); sys.exit(3)", str(proc.home)])
    with pytest.raises(ServiceUnavailable, match="crash exited during start-up.*bad option --foo"):
        proc.wait_healthy(lambda: 1 / 0, timeout_s=30)


def test_unknown_service_names_are_refused():
    with pytest.raises(ConfigError, match="unknown service 'redis'.*mariadb, kafka, postgres, mongo"):
        _select(["redis"], load_settings(environ={}))


def test_ferretdb_brings_the_postgresql_it_stores_into():
    on_pg = load_settings(environ={})
    assert [s.name for s in _select(["mongo", "mariadb"], on_pg)] == ["mariadb", "postgres", "mongo"]
    on_sqlite = load_settings(environ={"HZ45_SERVICES__MONGO__BACKEND": "sqlite"})
    assert [s.name for s in _select(["mongo", "mariadb"], on_sqlite)] == ["mariadb", "mongo"]
    assert [s.name for s in _select(None, on_sqlite)] == ["mariadb", "kafka", "mongo"]


def test_a_server_started_with_a_niceness_runs_every_thread_at_it(tmp_path):
    proc = Proc("niced", tmp_path / "niced")
    threads = "import sys, threading, time; threading.Thread(target=time.sleep, args=(120,)).start(); " + SLEEPER
    pid = proc.spawn([sys.executable, "-c", threads, str(proc.home)], niceness=7)
    try:
        wait_ready(proc)
        tasks = os.listdir(f"/proc/{pid}/task")
        assert len(tasks) >= 2
        assert {os.getpriority(os.PRIO_PROCESS, int(t)) for t in tasks} == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)}
    finally:
        proc.stop(grace_s=10)
