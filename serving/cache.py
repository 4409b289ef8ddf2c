"""A per-listener response cache with a TTL.

Entries are grouped by listener so that a new event or feature update for one listener drops
exactly that listener's entries. Each entry remembers the model version that produced it, so a
promotion makes every older entry a miss without a separate sweep. A writer takes the listener's
generation before computing and the entry is kept only if no invalidation happened meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable


class ListenerCache:
    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        # (listener, key) -> (expires_at, version, value), oldest first for eviction.
        self._entries: OrderedDict[tuple[int, Hashable], tuple[float, str, Any]] = OrderedDict()
        self._by_listener: dict[int, set[Hashable]] = {}
        self._generations: dict[int, int] = {}
        self._epoch = 0
        # The request path and the feature consumer thread both touch the cache.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0 and self.max_entries > 0

    def get(self, listener: int, key: Hashable, version: str) -> Any | None:
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get((listener, key))
            if entry is None or entry[0] <= self.clock() or entry[1] != version:
                self.misses += 1
                return None
            self.hits += 1
            return entry[2]

    def generation(self, listener: int) -> tuple[int, int]:
        return self._epoch, self._generations.get(listener, 0)

    def put(self, listener: int, key: Hashable, version: str, value: Any, generation: tuple[int, int]) -> None:
        if not self.enabled:
            return
        with self._lock:
            if generation != (self._epoch, self._generations.get(listener, 0)):
                return
            self._entries[(listener, key)] = (self.clock() + self.ttl_s, version, value)
            self._entries.move_to_end((listener, key))
            self._by_listener.setdefault(listener, set()).add(key)
            while len(self._entries) > self.max_entries:
                (old_listener, old_key), _ = self._entries.popitem(last=False)
                self._forget(old_listener, old_key)

    def invalidate(self, listener: int) -> None:
        with self._lock:
            self._generations[listener] = self._generations.get(listener, 0) + 1
            for key in self._by_listener.pop(listener, ()):
                self._entries.pop((listener, key), None)

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._by_listener.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _forget(self, listener: int, key: Hashable) -> None:
        keys = self._by_listener.get(listener)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_listener[listener]
