"""The local executor's worker: claims runs from the metadata store and runs their steps.

The metadata store is the queue. A worker holds a lease on each run it executes and renews it
by heartbeat; when a worker dies, its lease expires and another worker takes the run over,
continuing from the steps that had not succeeded.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from headrace.domain.runs import RunStatus, StepStatus, run_outcome
from headrace.execution.doorbell import Doorbell
from headrace.execution.graphs import version_dag
from headrace.execution.schedule import Schedule
from headrace.execution.status import local_metadata
from headrace.execution.step import Interrupt, StepOutcome, StepRunner
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.services.clock import utcnow
from headrace.settings import Settings

log = logging.getLogger("headrace.worker")

# The metadata store could not be reached (down, restarting, connection cut): nothing about
# the run can be recorded, so the worker lets go of it and its lease expires.
STORE_UNAVAILABLE = (OperationalError, InterfaceError)
# How long a worker waits before it tries the store again after such an error.
STORE_RETRY_SECONDS = 1.0


# A run's lease is renewed, its cancel flag read and its metadata published at most this
# often, not on every scheduling pass: each is a transaction on the path from one step to
# the next, and a step of a small pipeline takes less.
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


class LeaseLost(Exception):
    """Another worker has taken over the run."""


class Worker:
    """Claims and executes runs one at a time, each run's steps in parallel."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker_id: str | None = None,
        doorbell: Doorbell | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.runner = StepRunner(db, settings)
        self.stopping = threading.Event()
        self.doorbell = doorbell or Doorbell()

    def _lease(self) -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=self.settings.lease_seconds)

    def claim(self, only: uuid.UUID | None = None) -> uuid.UUID | None:
        with self.db.unit_of_work() as conn:
            return runs_repo.claim_next(
                conn,
                self.worker_id,
                utcnow(),
                self._lease(),
                skip_locked=not self.db.is_sqlite,
                only=only,
            )

    def serve(self) -> None:
        """Work until ``stop()``: claim a run, execute it, repeat; sleep when idle."""
        log.info("worker %s started", self.worker_id)
        while not self.stopping.is_set():
            try:
                run_id = self.claim()
            except Exception:
                log.exception("claiming a run failed")
                self.stopping.wait(STORE_RETRY_SECONDS)
                continue
            if run_id is None:
                self.doorbell.wait(self.settings.worker_poll_seconds)
                continue
            try:
                self.execute(run_id)
            except LeaseLost:
                log.warning("run %s was taken over by another worker", run_id)
            except STORE_UNAVAILABLE:
                self._let_go(run_id)
            except Exception:
                log.exception("run %s failed in the executor", run_id)
                try:
                    self._finish(run_id, RunStatus.ERROR)
                except STORE_UNAVAILABLE:
                    self._let_go(run_id)
        log.info("worker %s stopped", self.worker_id)

    def _let_go(self, run_id: uuid.UUID) -> None:
        """The store went away mid-run. The run is neither failed nor finished here: once
        its lease expires, a worker (this one included) takes it over and runs again the
        steps whose end was not recorded. Before, a store error escaped ``serve()`` and
        killed the worker's thread, leaving the run Running for ever."""
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
        """Claim and execute one run, if there is one (for ``headrace run`` and tests)."""
        run_id = self.claim()
        if run_id is not None:
            self.execute(run_id)
        return run_id

    def execute(self, run_id: uuid.UUID) -> RunStatus:
        """Run every step that has not ended yet, dependencies first, up to the parallel limit."""
        if self.settings.executor == "argo":  # the steps run as pods; follow the Workflow
            from headrace.execution.argo.follow import run_on_argo

            return run_on_argo(
                self.db, self.settings, run_id, heartbeat=lambda: self._heartbeat(run_id)
            )
        with self.db.unit_of_work() as conn:
            run = runs_repo.get_by_id(conn, run_id)
            assert run is not None
            dag = version_dag(conn, run.version_id)
            # Steps left Running by a worker that died are run again.
            steps = []
            for s in run.steps:
                if s.status == StepStatus.RUNNING:
                    runs_repo.set_step(
                        conn, run_id, s.name, status=StepStatus.PENDING.value, started_at=None
                    )
                    s = replace(s, status=StepStatus.PENDING.value, started_at=None)
                steps.append(s)
            # The metadata says Running from the start (it said Pending since the run's
            # creation), published with what was just read.
            run = replace(run, steps=steps)
            runs_repo.set_run(conn, run_id, argo_metadata=local_metadata(run))
        schedule = Schedule(dag, {s.name: StepStatus(s.status) for s in run.steps})
        interrupts: dict[str, Interrupt] = {}
        futures: dict[Future[StepOutcome], str] = {}
        cancelled = False
        # The claim has just taken the lease (of a run not asked to cancel); the metadata is
        # published above: both are due again only after their interval.
        beat = _Every(min(BOOKKEEPING_SECONDS, self.settings.lease_seconds / 3), done_now=True)
        publish = _Every(BOOKKEEPING_SECONDS, done_now=True)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.max_parallel_steps)) as pool:
            while True:
                # One transaction renews the lease and asks whether to cancel.
                if beat.due() and self._heartbeat_and_cancelled(run_id):
                    cancelled = True
                if cancelled:
                    # A step not started yet never starts (``Interrupt.attach``).
                    for interrupt in interrupts.values():
                        interrupt.fire("cancelled")
                    self._set_steps(run_id, schedule.cancel_waiting(), StepStatus.CANCELLED)
                self._set_steps(run_id, schedule.omitted(), StepStatus.OMITTED)
                for name in schedule.ready():
                    interrupts[name] = Interrupt()
                    futures[pool.submit(self.runner.run, run_id, name, interrupts[name])] = name
                if not futures:
                    break
                if publish.due():
                    started = time.monotonic()
                    self._publish(run_id)
                    # A big run's metadata takes a while to build: never more than a tenth of
                    # this thread's time, which also starts the steps.
                    took = time.monotonic() - started
                    publish.seconds = max(BOOKKEEPING_SECONDS, PUBLISH_SHARE * took)
                done, _ = wait(
                    list(futures),
                    timeout=min(1.0, self.settings.lease_seconds / 3),
                    return_when=FIRST_COMPLETED,
                )
                for future in done:
                    name = futures.pop(future)
                    interrupts.pop(name)
                    schedule.ended(name, future.result().status)
        outcome = RunStatus.CANCELLED if cancelled else run_outcome(list(schedule.status.values()))
        self._finish(run_id, outcome)
        return outcome

    def _set_steps(self, run_id: uuid.UUID, names: list[str], state: StepStatus) -> None:
        if not names:
            return
        with self.db.unit_of_work() as conn:
            now = utcnow()
            for name in names:
                runs_repo.set_step(conn, run_id, name, status=state.value, finished_at=now)

    def _heartbeat(self, run_id: uuid.UUID) -> None:
        with self.db.unit_of_work() as conn:
            self._renew(conn, run_id)

    def _heartbeat_and_cancelled(self, run_id: uuid.UUID) -> bool:
        """Renew our lease and ask whether the run's cancellation was requested, at once."""
        with self.db.unit_of_work() as conn:
            self._renew(conn, run_id)
            return runs_repo.cancel_requested(conn, run_id)

    def _renew(self, conn: Connection, run_id: uuid.UUID) -> None:
        if not runs_repo.renew_lease(conn, run_id, self.worker_id, self._lease()):
            raise LeaseLost(str(run_id))

    def _publish(self, run_id: uuid.UUID) -> None:
        """Refresh ``argo_metadata`` from the steps' statuses, as Argo would report them.
        Read and built outside the writing transaction, which on SQLite would hold back
        every step's own writes meanwhile (a step that ends in between shows at the next
        publish, and the run's end publishes everything)."""
        with self.db.unit_of_work(write=False) as conn:
            run = runs_repo.get_by_id(conn, run_id)
        assert run is not None
        metadata = local_metadata(run)
        with self.db.unit_of_work() as conn:
            runs_repo.set_run(conn, run_id, argo_metadata=metadata)

    def _finish(self, run_id: uuid.UUID, outcome: RunStatus) -> None:
        """End the run and every step not ended yet, and publish the final metadata, built
        from what was read and written here (not read again)."""
        now = utcnow()
        final = StepStatus.CANCELLED if outcome is RunStatus.CANCELLED else StepStatus.ERROR
        with self.db.unit_of_work() as conn:
            run = runs_repo.get_by_id(conn, run_id)
            assert run is not None
            steps = []
            for s in run.steps:
                if not StepStatus(s.status).terminal:
                    runs_repo.set_step(conn, run_id, s.name, status=final.value, finished_at=now)
                    s = replace(s, status=final.value, finished_at=now)
                steps.append(s)
            ended = replace(run, status=outcome.value, finished_at=now, steps=steps)
            runs_repo.set_run(
                conn,
                run_id,
                status=outcome.value,
                finished_at=now,
                worker_id=None,
                lease_expires_at=None,
                argo_metadata=local_metadata(ended),
            )
        log.info("run %s %s", run_id, outcome.value)
