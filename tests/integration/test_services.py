"""`hz45 services`: a second `up` is a no-op, `down` stops by PID, a taken port is reported.

The lifecycle test runs its own FerretDB and the PostgreSQL it stores into (the quickest servers
to start) on free ports with their own run folder, so the servers other tests use are never stopped.
"""

from __future__ import annotations

import shutil
import socket

import pytest

from hz45 import services
from hz45.errors import ServiceUnavailable
from hz45.services.postgres import Postgres
from hz45.settings import load_settings


def test_a_second_up_is_a_no_op(local_servers):
    again = services.up()
    assert [s.name for s in again] == ["mariadb", "kafka", "postgres", "mongo"]
    assert all(s.detail == "already running" for s in again)
    assert [s.pid for s in again] == [s.pid for s in local_servers]
    assert all(s.running and s.detail == "healthy" for s in services.status())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_mongo(tmp_path):
    settings = load_settings(environ={"HZ45_SERVICES__RUN_DIR": str(tmp_path / "run"),
                                      "HZ45_SERVICES__MONGO__PORT": str(_free_port()),
                                      "HZ45_SERVICES__POSTGRES__PORT": str(_free_port())})
    yield settings
    services.down(["mongo"], settings)
    # pytest's folders are closed to the `postgres` account, so its files went to /var/tmp.
    shutil.rmtree(Postgres(settings).pg_home, ignore_errors=True)


def test_up_status_down_cycle(own_mongo):
    started = services.up(["mongo"], own_mongo)
    assert [(s.name, s.detail) for s in started] == [("postgres", "started"), ("mongo", "started")]
    assert all(s.pid for s in started)
    again = services.up(["mongo"], own_mongo)
    assert [(s.detail, s.pid) for s in again] == [("already running", s.pid) for s in started]
    seen = services.status(["mongo"], own_mongo)
    assert [(s.running, s.detail, s.pid) for s in seen] == [(True, "healthy", s.pid) for s in started]

    stopped = services.down(["mongo"], own_mongo)
    assert [s.detail for s in stopped] == ["stopped", "stopped"]
    seen = services.status(["mongo"], own_mongo)
    assert [(s.running, s.detail) for s in seen] == [(False, "stopped")] * 2
    for port in (own_mongo.services.mongo.port, own_mongo.services.postgres.port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    again = services.down(["mongo"], own_mongo)
    assert [s.detail for s in again] == ["was not running"] * 2


def test_a_port_taken_by_another_process_is_reported(tmp_path, services_settings):
    # The shared FerretDB's port, seen from a run folder that did not start it (on SQLite, so
    # that the shared PostgreSQL's port is not the one reported first).
    settings = load_settings(environ={"HZ45_SERVICES__RUN_DIR": str(tmp_path / "run"),
                                      "HZ45_SERVICES__MONGO__BACKEND": "sqlite"})
    with pytest.raises(ServiceUnavailable) as err:
        services.up(["mongo"], settings)
    line = err.value.line()
    assert f"{settings.services.mongo.host}:{settings.services.mongo.port} is taken" in line
    assert "set another port" in line
    (seen,) = services.status(["mongo"], settings)
    assert seen.detail == "port taken by another process"
