"""The scheduler: inside each worker process, a thread that starts the runs of due schedule
ticks and fired dataset triggers, then rings the worker's doorbell. No server of its own:
any number of workers may run it at once, because what makes a tick or a trigger start one
run is in the database (``services/schedules.py``, ``services/triggers.py``). The clock is
injected, so tests drive it without sleeping."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable

from headrace.persistence.db import Database
from headrace.services import schedules, triggers
from headrace.services.clock import utcnow
from headrace.settings import Settings

log = logging.getLogger("headrace.scheduler")


class Scheduler:
    """One pass (``tick``) starts every run that is due at the clock's now."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.on_started = on_started

    def tick(self) -> list[uuid.UUID]:
        """Start the runs due now; their ids."""
        now = self.clock()
        started = schedules.fire_due(self.db, self.settings, now)
        started += triggers.fire_due(self.db, self.settings, now)
        if started and self.on_started is not None:
            self.on_started()
        return started

    def serve(self, stopping: threading.Event) -> None:
        """Pass every ``scheduler_poll_seconds`` until ``stopping`` is set; a failed pass
        (the store away) is logged and tried again at the next."""
        while not stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("a scheduler pass failed")
            stopping.wait(self.settings.scheduler_poll_seconds)
