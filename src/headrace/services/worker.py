"""The worker: claims runs from the metadata store and follows each on its executor.

The metadata store is the queue. A worker holds a lease on each run it follows and renews it
by heartbeat; when a worker dies, its lease expires and another worker takes the run over,
continuing from the steps that had not ended. The loop is the same for every backend
(``execution.base.Executor``): submit, then poll and record what is reported, renew the
lease, pass on a cancel request, until the backend says the run is finished. Every status it
records goes through the lifecycle.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from headrace.domain.records import RunRecord, RunRef
from headrace.domain.runs import RunStatus, StepStatus, final_outcome
from headrace.execution.base import BackendError, Executor, Observation
from headrace.execution.doorbell import Doorbell
from headrace.execution.status import local_metadata
from headrace.logs import bound
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.services import run_trace
from headrace.services.lifecycle import LeaseLost, Lifecycle, StepReport
from headrace.services.scheduler import Scheduler
from headrace.settings import Settings

log = logging.getLogger("headrace.worker")

# The metadata store could not be reached (down, restarting, connection cut): nothing about
# the run can be recorded, so the worker lets go of it and its lease expires.
STORE_UNAVAILABLE = (OperationalError, InterfaceError)
# How long a worker waits before it tries the store again after such an error.
STORE_RETRY_SECONDS = 1.0

# A run's lease is renewed, its cancel flag read and its metadata published at most this
# often, not on every poll: each is a transaction on the path from one step to the next, and
# a step of a small pipeline takes less.
BOOKKEEPING_SECONDS = 0.5
# Publishing a run's metadata is due at most every this many times what the last one took.
PUBLISH_SHARE = 10


class _Every:
    """``due()`` is true at the first ask (or, ``done_now``, once ``seconds`` have passed),
    then at most once per ``seconds``."""

    def __init__(self, seconds: float, *, done_now: bool = False) -> None:
        self.seconds = seconds
        self._last = time.monotonic() if done_now else -math.inf

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


class Worker:
    """Claims and follows runs one at a time on one executor."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        executor: Executor,
        *,
        worker_id: str | None = None,
        doorbell: Doorbell | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.executor = executor
        self.lifecycle = Lifecycle(db)
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.doorbell = doorbell or Doorbell()
        self._claimed: dict[uuid.UUID, RunRecord] = {}
        self.scheduler = Scheduler(db, settings, on_started=self.doorbell.ring)

    def claim(self, only: uuid.UUID | None = None) -> uuid.UUID | None:
        run = self.lifecycle.claim(
            self.worker_id,
            self.settings.lease_seconds,
            skip_locked=not self.db.is_sqlite,
            only=only,
            org_limit=self.settings.org_max_active_runs,
            describe=self.executor.describe,
        )
        if run is None:
            return None
        self._claimed[run.id] = run
        return run.id

    def serve(self) -> None:
        """Work until ``stop()``: claim a run, follow it, repeat; sleep when idle. The
        scheduler's thread starts the runs of due ticks and triggers meanwhile."""
        log.info("worker %s started", self.worker_id)
        ticker = threading.Thread(
            target=self.scheduler.serve, args=(self.stopping,), name="headrace-scheduler"
        )
        ticker.start()
        try:
            self._serve()
        finally:
            self.stopping.set()
            ticker.join()
        log.info("worker %s stopped", self.worker_id)

    def _serve(self) -> None:
        # Each look is a transaction (on SQLite, a write): looking every 50 ms cost an idle
        # server 8 % of a core. Idle, the wait doubles; a run found or a ring resets it.
        shortest = self.settings.worker_poll_seconds
        longest = max(shortest, self.settings.worker_idle_poll_seconds)
        wait = shortest
        while not self.stopping.is_set():
            try:
                run_id = self.claim()
            except Exception:
                log.exception("claiming a run failed")
                self.stopping.wait(STORE_RETRY_SECONDS)
                continue
            if run_id is None:
                wait = shortest if self.doorbell.wait(wait) else min(2 * wait, longest)
                continue
            wait = shortest
            try:
                self.execute(run_id)
            except LeaseLost:
                log.warning("run %s was taken over by another worker", run_id)
            except STORE_UNAVAILABLE:
                self._let_go(run_id)

    def _let_go(self, run_id: uuid.UUID) -> None:
        """The store went away mid-run. The run is neither failed nor finished here: once
        its lease expires, a worker (this one included) takes it over and runs again the
        steps whose end was not recorded."""
        log.warning(
            "lost the metadata store while running %s; it is taken over when its lease expires",
            run_id,
            exc_info=True,
        )
        self.stopping.wait(STORE_RETRY_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        self.doorbell.ring()

    def run_once(self) -> uuid.UUID | None:
        """Claim and follow one run, if there is one (for ``headrace run`` and tests)."""
        run_id = self.claim()
        if run_id is not None:
            self.execute(run_id)
        return run_id

    def execute(self, run_id: uuid.UUID) -> RunStatus:
        """Follow a run this worker has claimed until it ends; returns how it ended. A failure
        of our own (not the store's, not a lost lease) ends the run Error."""
        run = self._claimed.pop(run_id, None)
        if run is None:
            with self.db.unit_of_work(write=False) as conn:
                run = runs_repo.get_by_id(conn, run_id)
            assert run is not None, f"there is no run {run_id}"
        try:
            with (
                bound(run_id=run.id),
                run_trace.following(
                    run.argo_manifest,
                    f"run {run.name}",
                    **{"headrace.run_id": str(run.id), "headrace.executor": self.executor.kind},
                ) as span,
            ):
                ended = self._follow(run)
                if span is not None:
                    span.set_attribute("headrace.run_status", ended.value)
                return ended
        except (LeaseLost, *STORE_UNAVAILABLE):
            raise
        except Exception:
            log.exception("run %s failed in the executor", run_id)
            return self._finish(run, "Error", stopped=False, message=None, metadata=None)
        finally:
            self.executor.release(run)

    def _follow(self, run: RunRecord) -> RunStatus:
        ref = RunRef.of(run)
        if all(StepStatus(s.status).terminal for s in run.steps):
            # Every step was reused when the run was made: nothing for a backend to do.
            return self._finish(run, "Succeeded", stopped=False, message=None, metadata=None)
        try:
            seen = self.executor.submit(run)
        except BackendError as err:
            return self._finish(
                run, "Error", stopped=False, message=str(err), metadata=run.argo_metadata
            )
        stopped = False
        # The claim has just taken the lease (of a run not asked to cancel) and published the
        # first metadata: both are due again only after their interval.
        interval = 0.0 if self.executor.paced else BOOKKEEPING_SECONDS
        beat = _Every(min(interval, self.settings.lease_seconds / 3), done_now=True)
        publish = _Every(BOOKKEEPING_SECONDS, done_now=True)
        while True:
            self._record(ref, seen, stopped)
            if seen.metadata is not None:
                run = _with_metadata(run, seen.metadata)
            if seen.finished:
                return self._finish(
                    run, seen.phase, stopped=stopped, message=seen.message, metadata=seen.metadata
                )
            lease = self.settings.lease_seconds
            if beat.due() and self.lifecycle.heartbeat(run.id, self.worker_id, lease):
                try:
                    if not stopped:
                        self.executor.cancel(run)
                except BackendError as err:
                    return self._finish(
                        run, "Error", stopped=False, message=str(err), metadata=seen.metadata
                    )
                stopped = True
            if seen.metadata is None and publish.due():
                started = time.monotonic()
                self._publish(run.id)
                # A big run's metadata takes a while to build: never more than a tenth of
                # this thread's time, which also starts the steps.
                publish.seconds = max(
                    BOOKKEEPING_SECONDS, PUBLISH_SHARE * (time.monotonic() - started)
                )
            try:
                seen = self.executor.poll(run)
            except BackendError as err:
                return self._finish(
                    run, "Error", stopped=False, message=str(err), metadata=run.argo_metadata
                )

    def _record(self, ref: RunRef, seen: Observation, stopped: bool) -> None:
        """Write what the backend reports of steps that did not record it themselves, and
        the run's metadata when the backend has its own."""
        reports = {
            name: StepReport(obs.status, obs.started_at, obs.finished_at, obs.message)
            for name, obs in seen.steps.items()
            if not obs.recorded and obs.status is not StepStatus.PENDING
        }
        self.lifecycle.report(ref, reports, stopped=stopped, metadata=seen.metadata)

    def _publish(self, run_id: uuid.UUID) -> None:
        """Refresh ``argo_metadata`` from the steps' statuses, as Argo would report them.
        Read and built outside the writing transaction, which on SQLite would hold back
        every step's own writes meanwhile (a step that ends in between shows at the next
        publish, and the run's end publishes everything)."""
        with self.db.unit_of_work(write=False) as conn:
            run = runs_repo.get_by_id(conn, run_id)
        assert run is not None
        self.lifecycle.publish(run_id, local_metadata(run))

    def _finish(
        self,
        run: RunRecord,
        phase: str,
        *,
        stopped: bool,
        message: str | None,
        metadata: dict[str, Any] | None,
    ) -> RunStatus:
        """End the run as its backend's ``phase`` and its steps' records say."""

        def outcome(statuses: list[StepStatus]) -> RunStatus:
            return final_outcome(phase, statuses, stopped=stopped)

        def describe(ended: RunRecord) -> dict[str, Any]:
            if metadata is None:
                return local_metadata(ended)
            final = {**metadata, "executor": self.executor.kind}
            if ended.status == RunStatus.ERROR and message:
                final["message"] = message
            return final

        ref = RunRef.of(run)
        ended = self.lifecycle.finish(ref, outcome, message=message, describe=describe)
        status = RunStatus(ended.status)
        if status is RunStatus.ERROR:
            log.error("run %s ended Error: %s", run.id, message)
        else:
            log.info("run %s %s", run.id, status.value)
        return status


def _with_metadata(run: RunRecord, metadata: dict[str, Any]) -> RunRecord:
    return replace(run, argo_metadata=metadata)
