"""Wakes this process's idle workers the moment a run is created here.

An idle worker otherwise finds a new run only at its next poll (from ``worker_poll_seconds``,
doubling while it finds none, up to ``worker_idle_poll_seconds``); the server rings after
each run it creates, so its in-process worker claims the run at once. Runs created by other
processes are still found by polling.
"""

from __future__ import annotations

import threading


class Doorbell:
    def __init__(self) -> None:
        self._rung = threading.Event()

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout: float) -> bool:
        """Return when rung (True) or at ``timeout`` (False). A ring that lands after this
        returns is kept for the next wait; one that lands before the caller looks for work is
        harmless, since the run it announces is committed before the ring."""
        rung = self._rung.wait(timeout)
        self._rung.clear()
        return rung
