"""The one kind of in-memory cache headrace keeps: bounded, least recently used out first,
optionally expiring, safe to share between threads.

What is cached either never changes once written (pipeline versions and their graphs, the
JSON of ended runs, Delta snapshots of committed versions) or may be stale for a bounded time
(API keys). Each cache is a field of the process's ``Runtime`` (or of an object it owns), so
two runtimes never share one. The eviction itself is ``cachetools``'; this adds the lock
(``cachetools`` caches are not thread-safe) and the few operations the callers need.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K")
V = TypeVar("V")


class Cache(Generic[K, V]):
    """At most ``maxsize`` entries (or, with ``sizeof``, entries summing to at most
    ``maxsize``); with ``ttl`` each entry expires that many seconds after it was put, and
    ``ttl=0`` keeps nothing."""

    def __init__(
        self,
        maxsize: float,
        *,
        ttl: float | None = None,
        sizeof: Callable[[V], float] | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._lock = threading.Lock()
        self._items: cachetools.Cache[K, V] = (
            cachetools.LRUCache(maxsize, getsizeof=sizeof)
            if ttl is None
            else cachetools.TTLCache(maxsize, ttl, timer, getsizeof=sizeof)
        )

    def get(self, key: K) -> V | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            return self._items.get(key)

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The values kept for those of ``keys`` that have one, under one lock."""
        found: dict[K, V] = {}
        with self._lock:
            for key in keys:
                value = self._items.get(key)
                if value is not None:
                    found[key] = value
        return found

    def put(self, key: K, value: V) -> None:
        """Keep ``value``; a value larger than the whole cache is not kept."""
        if self.ttl == 0:
            return
        with self._lock:
            try:
                self._items[key] = value
            except ValueError:  # cachetools: "value too large"
                self._items.pop(key, None)

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        for key, value in items:
            self.put(key, value)

    def pop(self, key: K) -> V | None:
        """Forget ``key``; what was kept for it, or None."""
        with self._lock:
            return self._items.pop(key, None)

    def values(self) -> list[V]:
        with self._lock:
            return list(self._items.values())

    def items(self) -> list[tuple[K, V]]:
        with self._lock:
            return list(self._items.items())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
