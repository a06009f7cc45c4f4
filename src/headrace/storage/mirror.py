"""The local mirror of an object store kept under a size limit, least recently used out first,
never taking away a file in use.

Several processes share one mirror folder (the API, the workers, their step processes), so the
use order and the pins live in the filesystem, not in one process's memory:

- the order is each file's modification time, set to now whenever the file is handed out;
- a pin is a shared ``flock`` on the file, held while a step or a read uses it; a write's
  folder is pinned the same way until its files are uploaded. Eviction takes exclusive locks
  without waiting and skips what it cannot lock. A file is pinned by opening it, locking it,
  then checking it is still linked: an eviction may have removed it in between, and it is
  then fetched again.

Room is made before files are fetched (their sizes are known) and after a write's files are
uploaded. Pinned files are never evicted, even when they alone exceed the limit.

What a block of work holds is a ``Pins``; ``pinning()`` makes one the scope of every file the
mirror hands out inside it (a step's inputs and outputs, a read of a version), released when
the block ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar

log = logging.getLogger("headrace.storage")

PARTIAL = ".partial"  # a download in progress (renamed into place when complete)


class Pins:
    """Shared locks on mirror files and write folders, held until ``release``, which then
    trims the mirrors they were in (pinned files may have kept one over its limit)."""

    def __init__(self) -> None:
        self._files: dict[str, int] = {}  # path -> its locked descriptor
        self._folders: list[int] = []
        self._bounds: list[BoundedMirror] = []

    def trims(self, bound: BoundedMirror) -> None:
        """Make room in ``bound`` once these pins are released."""
        if all(b is not bound for b in self._bounds):
            self._bounds.append(bound)

    def hold(self, path: str) -> bool:
        """Pin the file at ``path`` and mark it used now; False when it is not there."""
        held = self._files.get(path)
        if held is not None:
            os.utime(held)
            return True
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        fcntl.flock(fd, fcntl.LOCK_SH)
        if os.fstat(fd).st_nlink == 0:  # evicted between the open and the lock
            os.close(fd)
            return False
        os.utime(fd)
        self._files[path] = fd
        return True

    def hold_folder(self, path: str) -> None:
        """Pin a write's folder: no file in it is evicted until released."""
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._folders.append(fd)

    def release(self) -> None:
        fds = [*self._files.values(), *self._folders]
        self._files, self._folders = {}, []
        for fd in fds:
            os.close(fd)
        bounds, self._bounds = self._bounds, []
        for bound in bounds:
            bound.make_room()


_SCOPE: ContextVar[Pins | None] = ContextVar("headrace_mirror_pins", default=None)


@contextlib.contextmanager
def pinning() -> Iterator[Pins]:
    """Every mirror file or write folder handed out inside the block stays pinned until the
    block ends (nested blocks share the outermost one's pins)."""
    outer = _SCOPE.get()
    if outer is not None:
        yield outer
        return
    pins = Pins()
    token = _SCOPE.set(pins)
    try:
        yield pins
    finally:
        _SCOPE.reset(token)
        pins.release()


@contextlib.contextmanager
def scope() -> Iterator[Pins]:
    """The pins of the enclosing ``pinning()`` block; outside one, pins held only until this
    block ends (enough to keep files while room is made for others)."""
    outer = _SCOPE.get()
    if outer is not None:
        yield outer
        return
    pins = Pins()
    try:
        yield pins
    finally:
        pins.release()


def _try_lock(path: str, flags: int = os.O_RDONLY) -> int | None:
    """An exclusive lock on ``path`` taken without waiting (None: in use, or gone)."""
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class BoundedMirror:
    """Keeps the mirror folder ``root`` under ``max_bytes`` (None: unbounded)."""

    def __init__(self, root: str, max_bytes: int | None) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def size(self) -> int:
        """Bytes of every file in the mirror."""
        return sum(size for _, size, _ in self._files())

    def _files(self) -> list[tuple[float, int, str]]:
        found = []
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:  # evicted or renamed meanwhile
                    continue
                found.append((stat.st_mtime, stat.st_size, path))
        return found

    def make_room(self, incoming: int = 0) -> None:
        """Evict the least recently used files not in use until ``incoming`` more bytes fit
        under the limit (or nothing more can go)."""
        if self.max_bytes is None:
            return
        files = self._files()
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total + incoming <= self.max_bytes:
                return
            if not path.endswith(PARTIAL) and self._evict(path):
                total -= size
        if total + incoming > self.max_bytes:
            log.warning(
                "the S3 mirror holds %d bytes in use, over its limit of %d", total, self.max_bytes
            )

    @staticmethod
    def _evict(path: str) -> bool:
        folder = _try_lock(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        if folder is None:  # a write is filling it
            return False
        try:
            fd = _try_lock(path)
            if fd is None:
                return False
            try:
                os.unlink(path)
            finally:
                os.close(fd)
            return True
        finally:
            os.close(folder)
