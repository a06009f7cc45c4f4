"""A parent that keeps a fixed set of spawned child processes running until it is told to
stop: ``headrace serve --workers N`` (N API processes and a worker process) and ``headrace
worker --processes N`` (N worker processes).

- A child that dies is logged with its exit code and started again. One that keeps dying
  at start-up (``CRASH_LOOP`` times in a row, each within ``STARTUP_SECONDS``) stops the
  whole server with exit code 1: a store that cannot be reached or a port in use would
  otherwise be retried for ever.
- SIGTERM or SIGINT to the parent stops every child with SIGTERM (each finishes what it is
  doing: uvicorn its requests, a worker its run's bookkeeping), waits up to
  ``STOP_SECONDS`` for them, then kills what is left. A Ctrl-C in a terminal reaches the
  children too; a second signal to them is harmless.
- A child ends when the parent dies, even by SIGKILL (Linux: ``PR_SET_PDEATHSIG``), so no
  orphan keeps the port or the worker's claim on runs.
- Children are started with ``spawn``: deltalake is not fork-safe, and a spawned child
  imports only what its target needs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("headrace.supervisor")

STARTUP_SECONDS = 10.0
CRASH_LOOP = 5
STOP_SECONDS = 20.0


@dataclass(frozen=True)
class ChildSpec:
    """What runs in one child: ``target(*args)``, under ``name`` in logs."""

    name: str
    target: Callable[..., None]
    args: tuple[Any, ...] = ()


@dataclass
class _Child:
    spec: ChildSpec
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)
    quick_deaths: int = 0


def _child(parent: int, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    """What a child runs: ``target(*args)``, once it is set to get SIGTERM when ``parent``
    dies."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        return
    target(*args)


class Supervisor:
    def __init__(self, specs: Sequence[ChildSpec]) -> None:
        self.specs = specs
        self.stopping = threading.Event()
        self._context = multiprocessing.get_context("spawn")
        self._children: list[_Child] = []

    def _start(self, spec: ChildSpec) -> BaseProcess:
        process = self._context.Process(
            target=_child, args=(os.getpid(), spec.target, spec.args), name=spec.name
        )
        process.start()
        log.info("started %s (pid %s)", spec.name, process.pid)
        return process

    def stop(self, *_: object) -> None:
        """Ask the loop in ``run`` to stop the children (safe from a signal handler)."""
        self.stopping.set()

    def run(self) -> int:
        """Start the children and keep them running until ``stop()``, SIGTERM or SIGINT;
        0 once they are stopped, 1 when a child kept dying at start-up."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        code = 0
        try:
            self._children = [_Child(spec, self._start(spec)) for spec in self.specs]
            while not self.stopping.is_set():
                # A short timeout: a signal sets ``stopping`` but does not end the wait.
                wait([c.process.sentinel for c in self._children], timeout=0.2)
                if not self._replace_dead():
                    code = 1
                    break
        finally:
            self._stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _replace_dead(self) -> bool:
        """Start again each child that has exited; False when one keeps dying at start-up."""
        for child in self._children:
            process = child.process
            if process.is_alive() or self.stopping.is_set():
                continue
            quick = time.monotonic() - child.started < STARTUP_SECONDS
            child.quick_deaths = child.quick_deaths + 1 if quick else 0
            log.error(
                "%s (pid %s) exited with code %s%s",
                child.spec.name,
                process.pid,
                process.exitcode,
                "" if child.quick_deaths < CRASH_LOOP else "; it keeps failing, stopping",
            )
            if child.quick_deaths >= CRASH_LOOP:
                return False
            process.close()
            child.process = self._start(child.spec)
            child.started = time.monotonic()
        return True

    def _stop_children(self) -> None:
        running = [c.process for c in self._children if c.process.is_alive()]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("%s (pid %s) did not stop; killing it", process.name, process.pid)
                process.kill()
                process.join()
