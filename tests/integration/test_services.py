"""`hz45 services`: a second `up` is a no-op, `down` stops by PID, a taken port is reported.

The lifecycle test runs its own FerretDB (the quickest server to start) on a free port with its
own run folder, so the servers other tests use are never stopped.
"""

from __future__ import annotations

import socket

import pytest

from hz45 import services
from hz45.errors import ServiceUnavailable
from hz45.settings import load_settings


def test_a_second_up_is_a_no_op(local_servers):
    again = services.up()
    assert [s.name for s in again] == ["mariadb", "kafka", "mongo"]
    assert all(s.detail == "already running" for s in again)
    assert [s.pid for s in again] == [s.pid for s in local_servers]
    assert all(s.running and s.detail == "healthy" for s in services.status())


@pytest.fixture
def own_mongo(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings(environ={"HZ45_SERVICES__RUN_DIR": str(tmp_path / "run"),
                                      "HZ45_SERVICES__MONGO__PORT": str(port)})
    yield settings
    services.down(["mongo"], settings)


def test_up_status_down_cycle(own_mongo):
    (started,) = services.up(["mongo"], own_mongo)
    assert started.detail == "started" and started.pid
    (again,) = services.up(["mongo"], own_mongo)
    assert (again.detail, again.pid) == ("already running", started.pid)
    (seen,) = services.status(["mongo"], own_mongo)
    assert (seen.running, seen.detail, seen.pid) == (True, "healthy", started.pid)

    (stopped,) = services.down(["mongo"], own_mongo)
    assert stopped.detail == "stopped"
    (seen,) = services.status(["mongo"], own_mongo)
    assert (seen.running, seen.detail) == (False, "stopped")
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", own_mongo.services.mongo.port)) != 0
    (again,) = services.down(["mongo"], own_mongo)
    assert again.detail == "was not running"


def test_a_port_taken_by_another_process_is_reported(tmp_path, services_settings):
    # The shared FerretDB's port, seen from a run folder that did not start it.
    settings = load_settings(environ={"HZ45_SERVICES__RUN_DIR": str(tmp_path / "run")})
    with pytest.raises(ServiceUnavailable) as err:
        services.up(["mongo"], settings)
    line = err.value.line()
    assert f"{settings.services.mongo.host}:{settings.services.mongo.port} is taken" in line
    assert "set another port" in line
    (seen,) = services.status(["mongo"], settings)
    assert seen.detail == "port taken by another process"
