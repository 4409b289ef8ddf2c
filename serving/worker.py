"""A replica's background work (following a topic, connecting a producer, sinking the log) on a
daemon thread that survives the stores going away: a Kafka or MongoDB failure is recorded and the
work starts again after a pause, until the replica stops it."""

from __future__ import annotations

import logging
import threading

from kafka.errors import KafkaError
from pymongo.errors import PyMongoError

from hz45.errors import ServiceUnavailable

log = logging.getLogger(__name__)

RETRIED = (KafkaError, PyMongoError, ServiceUnavailable)


class BackgroundWorker:
    def __init__(self, name: str, retry_s: float):
        self.retry_s = retry_s
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def work(self) -> None:
        """The work itself; returns when done or when `stopping`."""
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def pause(self, seconds: float) -> None:
        """Sleep unless stopped meanwhile."""
        self._stop.wait(seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.work()
                return
            except RETRIED as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: %s; retrying in %.0fs", self._thread.name, self.last_error, self.retry_s)
                self._stop.wait(self.retry_s)
