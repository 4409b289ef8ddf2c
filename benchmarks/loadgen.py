"""A lean HTTP/1.1 load generator on asyncio streams (keep-alive connections, no HTTP library),
so the client takes as little of the machine's two cores as it can.

Two modes, both bounded in time and addressing only the given 127.0.0.1 URL:
- closed loop: a fixed number of connections, each sending its next request as soon as the
  previous one is answered (measures the throughput the server sustains);
- open loop: requests start on a fixed schedule whatever the server does, and latency is taken
  from the scheduled start, so a stall shows up in the percentiles instead of being hidden.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


@dataclass
class Result:
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, other: Result) -> None:
        self.duration_s += other.duration_s
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count

    def summary(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.asarray([np.nan])
        return {
            "requests": len(self.latencies_ms) + self.errors,
            "rps": round(len(self.latencies_ms) / self.duration_s, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "errors": self.errors,
        }


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        """One GET; returns the status code. Raises on a broken or unparsable response."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ValueError("response without Content-Length")
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError("load is only ever sent to this machine (127.0.0.1)")
    return parts.hostname, parts.port or 80, parts.path.rstrip("/")


async def _one(conn: Connection, path: str, started: float, result: Result, timeout_s: float) -> None:
    try:
        status = await asyncio.wait_for(conn.get(path), timeout_s)
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        conn.close()
        result.errors += 1
        return
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if status == 200:
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
    else:
        result.errors += 1


async def closed_loop(
    url: str, paths: Callable[[], str], concurrency: int, duration_s: float, timeout_s: float = 10.0
) -> Result:
    host, port, prefix = _target(url)
    result = Result(duration_s)
    end = time.perf_counter() + duration_s

    async def worker() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < end:
            await _one(conn, prefix + paths(), time.perf_counter(), result, timeout_s)
        conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


async def open_loop(
    url: str,
    paths: Callable[[], str],
    rate: float,
    duration_s: float,
    timeout_s: float = 10.0,
    max_in_flight: int = 512,
) -> Result:
    """Requests on a fixed schedule; one that would exceed `max_in_flight` open requests is not
    sent and counts as an error, so an overloaded server cannot make the client open sockets
    without bound."""
    host, port, prefix = _target(url)
    result = Result(duration_s)
    idle: list[Connection] = []
    tasks: set[asyncio.Task] = set()

    async def send(scheduled: float) -> None:
        conn = idle.pop() if idle else Connection(host, port)
        await _one(conn, prefix + paths(), scheduled, result, timeout_s)
        idle.append(conn)

    start = time.perf_counter()
    for i in range(int(rate * duration_s)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= max_in_flight:
            result.errors += 1
            continue
        task = asyncio.create_task(send(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return result


def user_paths(user_ids: np.ndarray, unknown_share: float, n: int, seed: int) -> Callable[[], str]:
    """Paths for random listeners: mostly known ones, a share never seen by the model."""
    rng = random.Random(seed)
    ids = user_ids.tolist()
    top = int(max(ids)) + 1

    def path() -> str:
        user = top + rng.randrange(1_000_000) if rng.random() < unknown_share else rng.choice(ids)
        return f"/recommendations/{user}?n={n}"

    return path
