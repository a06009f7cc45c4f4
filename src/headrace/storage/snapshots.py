"""What one process already knows of its Delta tables, so a step does not read a table's log
again for every input and every output.

- A committed version never changes, so its snapshot (files and schema) is kept once read, or
  once this process committed it: the next step reading that version finds it here.
- The base a write builds on is kept between writes and brought up to date by reading only
  the commits since (``deltalog.advance`` on a local table, deltalake's
  ``update_incremental()`` on an object store), instead of replaying the whole log.
  After this process's own commit that happens in the background, off the writer's path,
  with the checkpoint delta-rs writes every 100th version when the commit was made with
  ``checkpoint=False``; the next writer then checks with one
  ``stat`` whether anyone committed since. Each base is lent to one writer at a time, so
  two writers of one table never share one.

Both are bounded (least recently used first out).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from headrace.caching import Cache
from headrace.storage import delta, deltalog, objectstore

if TYPE_CHECKING:
    from headrace.storage.delta import Base

    _Job = tuple[str, Base, int, Future[Base | None]]

log = logging.getLogger("headrace.storage")


def brought_forward(table: str, base: Base | None) -> Base | None:
    """``base`` updated to the table's newest version by reading only the commits since
    (opening a table replays its log from the last checkpoint: up to 100 commits)."""
    if isinstance(base, deltalog.TableState):
        forward = deltalog.advance(base)
        if forward is not None:
            return forward
    elif base is not None:
        try:
            base.update_incremental()
            return base
        except Exception:  # e.g. the commits since were cleaned up: read it afresh
            pass
    return delta.open_base(table)


def _newer_commit(table: str, base: Base) -> bool:
    """Whether a commit follows ``base``'s version. On a local table one ``stat`` answers; on
    an object store it is assumed."""
    if objectstore.store_for(table) is not None:
        return True
    return os.path.exists(delta.log_entry(table, int(base.version()) + 1))


class _Forwarder:
    """One thread bringing bases forward after this process's own commits, and writing the
    checkpoints those commits skipped. Started by the first job; ``close()`` lets it finish
    the jobs queued and ends it (a daemon, so a process that never closes its cache is not
    kept alive by it; a checkpoint it did not get to is written at the next one due)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, table: str, base: Base, version: int) -> Future[Base | None]:
        """``base`` brought forward past ``version``, the one this process just committed."""
        future: Future[Base | None] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the table cache is closed")
            self._jobs.put((table, base, version, future))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="headrace-delta-bases", daemon=True
                )
                self._thread.start()
        return future

    def close(self) -> None:
        """Finish the jobs queued, then end the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._jobs.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            table, base, version, future = job
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


class TableCache:
    """Snapshots of committed versions and the bases of the next writes, per table path,
    with the thread that brings the bases forward (ended by ``close()``)."""

    def __init__(self, snapshots: int = 1024, bases: int = 256) -> None:
        self._snapshots: Cache[tuple[str, int], delta.Snapshot] = Cache(snapshots)
        self._bases: Cache[str, Future[Base | None]] = Cache(bases)
        self._forwarder = _Forwarder()

    def snapshot(self, table: str, version: int) -> delta.Snapshot:
        """The files and schema of ``version`` (see ``delta.snapshot``)."""
        found = self._snapshots.get((table, version))
        if found is not None:
            store = objectstore.store_for(table)
            if store is None:
                return found
            # its mirror files may have been evicted since: fetched again (and pinned)
            local = store.download([store.uri(f) for f in found.files])
            return dataclasses.replace(found, files=local)
        snap = delta.snapshot(table, version)
        self._snapshots.put((table, version), snap)
        return snap

    def take_base(self, table: str) -> Base | None:
        """The table's newest snapshot for a write (None: no table yet), lent until
        ``give_back``."""
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
        for future in self._bases.values():
            future.exception()  # waits; a failure is the next writer's to see

    def close(self) -> None:
        """Settle, then end the background thread; the cache takes no more bases."""
        self.settle()
        self._forwarder.close()

    def give_back(self, table: str, base: Base | None, written: delta.WrittenVersion) -> None:
        """Return the base after a commit, and keep the version it committed: its files are
        exactly the ones written, since every step output replaces the whole table."""
        if base is None:  # a new table: its first reader opens it
            return
        snap = written.snapshot
        if snap is not None and snap.files and delta.readable(base):
            self._snapshots.put((table, snap.version), snap)
        self._bases.put(table, self._forwarder.submit(table, base, written.version))
