"""What one process already knows of its Delta tables, so a step does not read a table's log
again for every input and every output.

- A committed version never changes, so its snapshot (files and schema) is kept once read, or
  once this process committed it: the next step reading that version finds it here.
- The base a write builds on is kept between writes and brought up to date with
  ``update_incremental()`` (only the commits since), instead of replaying the whole log.
  After this process's own commit that happens in the background, off the writer's path
  (5-10 ms a step), with the checkpoint delta-rs writes every 100th version (~100 ms) when
  the commit was made with ``checkpoint=False``; the next writer then checks with one
  ``stat`` whether anyone committed since. Each base is lent to one writer at a time, so
  two writers of one table never share one.

Both are bounded (least recently used first out).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Generic, TypeVar

from deltalake import DeltaTable

from headrace.storage import delta, objectstore

log = logging.getLogger("headrace.storage")

_K = TypeVar("_K")
_V = TypeVar("_V")


class _Lru(Generic[_K, _V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def values(self) -> list[_V]:
        return list(self._items.values())

    def pop(self, key: _K) -> _V | None:
        return self._items.pop(key, None)

    def put(self, key: _K, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def brought_forward(table: str, base: DeltaTable | None) -> DeltaTable | None:
    """``base`` updated to the table's newest version by reading only the commits since
    (opening a table replays its log from the last checkpoint: up to 100 commits)."""
    if base is not None:
        try:
            base.update_incremental()
            return base
        except Exception:  # e.g. the commits since were cleaned up: read it afresh
            pass
    return delta.open_base(table)


def _newer_commit(table: str, base: DeltaTable) -> bool:
    """Whether a commit follows ``base``'s version. On a local table one ``stat`` answers; on
    an object store it is assumed."""
    if objectstore.store_for(table) is not None:
        return True
    return os.path.exists(delta.log_entry(table, int(base.version()) + 1))


_Job = tuple[str, DeltaTable, int, "Future[DeltaTable | None]"]


class _Forwarder:
    """One daemon thread bringing bases forward after this process's own commits, and writing
    the checkpoints those commits skipped (a daemon: it must not keep a finished command
    alive; a checkpoint it did not get to is written at the next one due)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, table: str, base: DeltaTable, version: int) -> Future[DeltaTable | None]:
        """``base`` brought forward past ``version``, the one this process just committed."""
        future: Future[DeltaTable | None] = Future()
        self._jobs.put((table, base, version, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="headrace-delta-bases", daemon=True
                )
                self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            table, base, version, future = self._jobs.get()
            try:
                forward = brought_forward(table, base)
            except BaseException as err:  # handed to the writer that takes this base
                future.set_exception(err)
                continue
            if forward is not None:
                try:
                    delta.checkpoint_if_due(forward, version)
                except Exception:  # the log stays readable; the next one due is written
                    log.warning("no checkpoint of %s at version %d", table, version, exc_info=True)
            future.set_result(forward)


_FORWARDER = _Forwarder()


class TableCache:
    """Snapshots of committed versions and the bases of the next writes, per table path."""

    def __init__(self, snapshots: int = 1024, bases: int = 256) -> None:
        self._lock = threading.Lock()
        self._snapshots: _Lru[tuple[str, int], delta.Snapshot] = _Lru(snapshots)
        self._bases: _Lru[str, Future[DeltaTable | None]] = _Lru(bases)

    def snapshot(self, table: str, version: int) -> delta.Snapshot:
        """The files and schema of ``version`` (see ``delta.snapshot``)."""
        with self._lock:
            found = self._snapshots.get((table, version))
        if found is not None:
            return found
        snap = delta.snapshot(table, version)
        with self._lock:
            self._snapshots.put((table, version), snap)
        return snap

    def take_base(self, table: str) -> DeltaTable | None:
        """The table's newest snapshot for a write (None: no table yet), lent until
        ``give_back``."""
        with self._lock:
            pending = self._bases.pop(table)
        if pending is None:
            return delta.open_base(table)
        try:
            base = pending.result()
        except Exception:  # bringing it forward failed: read it afresh
            return delta.open_base(table)
        if base is not None and _newer_commit(table, base):
            return brought_forward(table, base)
        return base if base is not None else delta.open_base(table)

    def settle(self) -> None:
        """Wait for the background work on the bases given back (a process about to exit
        would otherwise drop a checkpoint that was due)."""
        with self._lock:
            pending = list(self._bases.values())
        for future in pending:
            future.exception()  # waits; a failure is the next writer's to see

    def give_back(self, table: str, base: DeltaTable | None, written: delta.WrittenVersion) -> None:
        """Return the base after a commit, and keep the version it committed: its files are
        exactly the ones written, since every step output replaces the whole table."""
        if base is None:  # a new table: its first reader opens it
            return
        snap = written.snapshot
        with self._lock:
            if snap is not None and snap.files and delta.readable(base):
                self._snapshots.put((table, snap.version), snap)
            self._bases.put(table, _FORWARDER.submit(table, base, written.version))
