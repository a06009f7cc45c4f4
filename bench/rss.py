"""Resident memory of a process and everything it started (steps may run in child
processes), sampled every 10 ms."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.server import vm_kb


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:  # the process ended meanwhile
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        for child in children:
            found += [int(child), *descendants(int(child))]
    return found


def resident(pids: list[int]) -> Iterator[tuple[int, int]]:
    """``(pid, VmRSS kB)`` of each process still there."""
    for p in pids:
        try:
            yield p, vm_kb(p, "VmRSS")
        except (FileNotFoundError, ProcessLookupError, LookupError):
            continue


def tree_kb(pid: int) -> int:
    return sum(kb for _, kb in resident([pid, *descendants(pid)]))


@contextmanager
def sampled(pid: int) -> Iterator[dict[int, tuple[int, int]]]:
    """While the block runs: per process of ``pid``'s tree, its resident kB when first seen
    and at its peak; under the key 0, the whole tree's total when the block began and at its
    peak."""
    found: dict[int, tuple[int, int]] = {}
    start = tree_kb(pid)
    found[0] = (start, start)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            total = 0
            for p, kb in resident([pid, *descendants(pid)]):
                first, peak = found.get(p, (kb, kb))
                found[p] = (first, max(peak, kb))
                total += kb
            found[0] = (start, max(found[0][1], total))
            done.wait(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        done.set()
        thread.join()
