"""What every local server provides to `hz45.services`: how to prepare it, how to run it, how to
ask it whether it is healthy."""

from __future__ import annotations

import socket
from pathlib import Path

from hz45.services.process import Proc
from hz45.settings import Settings


class Service:
    """One local server. Subclasses fill in the four steps; `hz45.services` drives them."""

    name: str = ""
    # Seconds from spawn to a passing health check before start-up counts as failed.
    start_timeout_s: float = 120.0
    # The OS account the server runs as (None: this process's own).
    os_user: str | None = None

    def __init__(self, settings: Settings):
        self.settings = settings
        self.home: Path = settings.path(settings.services.run_dir) / self.name
        self.cache: Path = settings.path(settings.services.cache_dir)
        self.proc = Proc(self.name, self.home, self.os_user)

    @property
    def conf(self):
        """This server's section of `services` (named like the server)."""
        return getattr(self.settings.services, self.name)

    @property
    def host(self) -> str:
        return self.conf.host

    @property
    def port(self) -> int:
        return self.conf.port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def prepare(self) -> None:
        """Install, fetch or build what is missing and lay out the data folder (idempotent)."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    @property
    def niceness(self) -> int:
        """The scheduling niceness the server runs at: its section's `niceness`, where it has one."""
        return getattr(self.conf, "niceness", 0)

    def check(self) -> None:
        """A real query or handshake; raises when the server does not answer properly."""
        raise NotImplementedError

    def after_start(self) -> None:
        """One-time set-up that needs the running server (databases, users)."""

    def port_taken(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            return sock.connect_ex((self.host, self.port)) == 0
