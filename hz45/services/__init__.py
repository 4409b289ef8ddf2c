"""The local servers the project starts and stops itself: MariaDB, Kafka, and FerretDB ("mongo")
with the PostgreSQL it stores into.

`up()` is idempotent: a server that already runs from this run folder is left alone. Every server
is health-checked with a real query before `up()` returns; a failure raises ServiceUnavailable
with one line that points at the server's log under run/<name>/.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hz45.errors import ConfigError, Hz45Error, ServiceUnavailable
from hz45.services.base import Service
from hz45.services.ferretdb import FerretDb
from hz45.services.kafka import Kafka
from hz45.services.mariadb import MariaDb
from hz45.services.postgres import Postgres
from hz45.services.process import locked
from hz45.settings import Settings, get_settings

# In start order: FerretDB ("mongo") stores into PostgreSQL, so PostgreSQL comes first.
SERVICES: dict[str, type[Service]] = {"mariadb": MariaDb, "kafka": Kafka, "postgres": Postgres, "mongo": FerretDb}


@dataclass
class ServiceState:
    name: str
    address: str
    running: bool
    pid: int | None
    # What `up` did ("started", "already running", ...) or what `status` saw.
    detail: str
    seconds: float = 0.0


def _select(names: list[str] | None, settings: Settings | None) -> list[Service]:
    settings = settings or get_settings()
    unknown = sorted(set(names or []) - SERVICES.keys())
    if unknown:
        raise ConfigError(f"unknown service '{unknown[0]}'", f"choose from {', '.join(SERVICES)}")
    wanted = set(names or SERVICES)
    if settings.services.mongo.backend == "postgresql":
        if "mongo" in wanted:
            wanted.add("postgres")
    elif not names:
        wanted.discard("postgres")
    return [cls(settings) for name, cls in SERVICES.items() if name in wanted]


def up(names: list[str] | None = None, settings: Settings | None = None) -> list[ServiceState]:
    """Start the named servers (all by default) and wait until each answers a real query."""
    services = _select(names, settings)
    started: list[tuple[Service, float]] = []
    states: dict[str, ServiceState] = {}
    with locked(services[0].home.parent):
        for svc in services:
            t0 = time.monotonic()
            pid = svc.proc.pid()
            if pid is not None:
                svc.proc.wait_healthy(svc.check, svc.start_timeout_s)
                states[svc.name] = ServiceState(svc.name, svc.address, True, pid, "already running")
                continue
            if svc.port_taken():
                raise ServiceUnavailable(
                    f"{svc.name}: {svc.address} is taken by a process not started from {svc.home.parent}",
                    "stop it, or set another port under services in the configuration",
                )
            svc.prepare()
            svc.proc.spawn(svc.argv(), env=svc.env(), niceness=svc.niceness)
            started.append((svc, t0))
        # Started servers boot in parallel; wait for them one after the other.
        for svc, t0 in started:
            try:
                svc.after_start()
                svc.proc.wait_healthy(svc.check, svc.start_timeout_s)
            except Exception as exc:
                svc.proc.stop()
                if isinstance(exc, Hz45Error):
                    raise
                raise ServiceUnavailable(f"{svc.name} set-up failed: {exc}".splitlines()[0],
                                         f"see {svc.proc.log_file}") from exc
            states[svc.name] = ServiceState(svc.name, svc.address, True, svc.proc.pid(), "started",
                                            time.monotonic() - t0)
    return [states[svc.name] for svc in services]


def down(names: list[str] | None = None, settings: Settings | None = None) -> list[ServiceState]:
    """Stop the named servers (all by default) by PID: TERM, then KILL after a grace period."""
    services = _select(names, settings)
    out = []
    with locked(services[0].home.parent):
        for svc in reversed(services):
            t0 = time.monotonic()
            stopped = svc.proc.stop()
            out.append(ServiceState(svc.name, svc.address, False, None, "stopped" if stopped else "was not running",
                                    time.monotonic() - t0))
    return out[::-1]


def status(names: list[str] | None = None, settings: Settings | None = None) -> list[ServiceState]:
    """Whether each server runs from this run folder and answers its health query."""
    out = []
    for svc in _select(names, settings):
        pid = svc.proc.pid()
        if pid is None:
            detail = "port taken by another process" if svc.port_taken() else "stopped"
            out.append(ServiceState(svc.name, svc.address, False, None, detail))
            continue
        try:
            svc.check()
            detail = "healthy"
        except Exception as exc:  # report, do not raise: status is a diagnosis
            detail = f"not answering: {type(exc).__name__}: {exc}".splitlines()[0][:160]
        out.append(ServiceState(svc.name, svc.address, True, pid, detail))
    return out
