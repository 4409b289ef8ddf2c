"""Keeps the served model in step with its registry alias.

A new version is loaded completely on the watcher's thread and only then published by replacing
one reference, so a request either sees the old version or the new one, never a half-loaded one;
requests take the reference once and keep using that version to the end.
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Callable

from serving.registry import LoadedVersion, NoChampion, Registry, VersionRef

log = logging.getLogger(__name__)


def exempt_from_gc() -> None:
    """Take what is alive now, the loaded version above all, out of the garbage collector's
    reach. A large version holds object arrays of millions of entries that every full collection
    walks (about 0.3 s with 1,000,000 tracks, while every request waits); its objects live until
    the next swap, which first hands the previous version back to the collector."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelWatcher:
    def __init__(
        self,
        registry: Registry,
        interval_s: float,
        on_swap: Callable[[LoadedVersion], None] = lambda loaded: None,
    ):
        self.registry = registry
        self.interval_s = interval_s
        self.on_swap = on_swap
        self.current: LoadedVersion | None = None
        self.last_error: str | None = None
        self.swaps = 0
        # A version that failed to load is not downloaded again every interval; moving the
        # alias to another version (or restarting the replica) tries again.
        self._failed_version: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)

    def start(self) -> ModelWatcher:
        """Load the alias's version now (so a replica starts ready), then watch it."""
        self.check()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)

    def check(self) -> bool:
        """Follow the alias once; True when a new version was swapped in."""
        try:
            ref = self.registry.resolve()
        except NoChampion as exc:
            # Keep serving what is loaded: an alias removed by hand is no reason to stop.
            self.last_error = str(exc)
            return False
        current = self.current
        if current is not None and current.ref.version == ref.version:
            self.last_error = None
            return False
        if ref.version == self._failed_version:
            return False
        return self._swap_to(ref)

    def _swap_to(self, ref: VersionRef) -> bool:
        try:
            loaded = self.registry.load(ref)
        except Exception as exc:  # a broken version must not take the served one down
            self.last_error = f"version {ref.version} failed to load: {type(exc).__name__}: {exc}"
            self._failed_version = ref.version
            log.exception("model %s version %s failed to load; still serving the previous one", ref.name, ref.version)
            return False
        was = self.current.ref.version if self.current else "none"
        self.current = loaded
        self.swaps += 1
        self.last_error = None
        log.info("serving %s version %s (was %s)", ref.name, ref.version, was)
        self.on_swap(loaded)
        exempt_from_gc()
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as exc:  # the registry being briefly unreachable must not end the watch
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model watcher: %s", self.last_error)
