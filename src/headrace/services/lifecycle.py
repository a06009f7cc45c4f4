"""The one owner of a run's life: every run and step status change goes through here.

Each change is checked against the state machine of ``domain/runs.py`` (an illegal one raises
``IllegalTransition`` and nothing is written), written as a compare-and-set on the status the
caller last knew (so two writers cannot both move the same step), and appended to the event
outbox in the same transaction (``repositories/events.py``). The worker, the step runner of
a local worker or an Argo pod, the Argo follower and the cancel endpoint all call this; no
other code writes a status.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from headrace.domain.records import RunRecord, RunRef
from headrace.domain.runs import (
    IllegalTransition,
    RunStatus,
    StepStatus,
    leftover_status,
    step_path,
    transition_run,
    transition_step,
)
from headrace.persistence.db import Database
from headrace.persistence.repositories import events as events_repo
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.services.clock import utcnow


class LeaseLost(Exception):
    """Another worker has taken the run over."""


@dataclass(frozen=True)
class StepReport:
    """What a backend says of one step: the status it reached, when, and why."""

    status: StepStatus
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None


class Lifecycle:
    """Moves runs and steps through their statuses, one checked change at a time."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    # -- single changes, in the caller's transaction ------------------------------------------

    def created(self, conn: Connection, run: RunRecord) -> None:
        """A run was just inserted (Pending): its first event."""
        events_repo.append(conn, [_event(RunRef.of(run), None, None, run.status, run.created_at)])

    def move_run(
        self,
        conn: Connection,
        ref: RunRef,
        old: RunStatus,
        new: RunStatus,
        *,
        started_at: dt.datetime | None = None,
        error: str | None = None,
    ) -> bool:
        """Move the run from ``old`` to ``new``; False (nothing written) when it is no longer
        ``old``. ``finished_at`` is set exactly when ``new`` is terminal, and a run that ends
        leaves no step open: those still open end as it did
        (``domain.runs.leftover_status``), with ``error`` as their reason."""
        transition_run(old, new)
        now = self.clock()
        if new.terminal:
            leftover = StepReport(leftover_status(new), error=error)
            still_open = runs_repo.open_steps(conn, ref.id)
            self.settle_steps(conn, ref, dict.fromkeys(still_open, leftover))
        moved = runs_repo.move_run(
            conn,
            ref.id,
            old.value,
            new.value,
            started_at=started_at,
            finished_at=now if new.terminal else None,
        )
        if moved:
            events_repo.append(conn, [_event(ref, None, old, new, now)])
        return moved

    def move_step(
        self,
        conn: Connection,
        ref: RunRef,
        name: str,
        old: StepStatus,
        new: StepStatus,
        *,
        started_at: dt.datetime | None = None,
        finished_at: dt.datetime | None = None,
        error: str | None = None,
        attempt: dt.datetime | None = None,
    ) -> bool:
        """Move one step from ``old`` to ``new``; False when it is no longer ``old`` (or,
        given ``attempt``, no longer the run of the step that started at that time: a worker
        that lost its lease cannot end the step its successor runs again).
        A step that starts gets ``started_at`` (now by default), one going back to Pending
        loses its start, one that ends keeps it (or gets ``started_at`` when given); only an
        ended step has an end and an error."""
        transition_step(old, new)
        now = self.clock()
        if new is StepStatus.PENDING:
            started_at, set_start = None, True
        elif new is StepStatus.RUNNING:
            started_at, set_start = started_at or now, True
        else:
            set_start = started_at is not None
        moved = runs_repo.move_step(
            conn,
            ref.id,
            name,
            old.value,
            new.value,
            started_at=started_at,
            set_start=set_start,
            finished_at=(finished_at or now) if new.terminal else None,
            error=error if new.terminal else None,
            attempt=attempt,
        )
        if moved:
            events_repo.append(conn, [_event(ref, name, old, new, now)])
        return moved

    def settle_steps(
        self,
        conn: Connection,
        ref: RunRef,
        reports: Mapping[str, StepReport],
        *,
        stopped: bool = False,
    ) -> list[str]:
        """Bring steps to what a backend reports of them, whatever they are now: steps that
        have ended keep their end (a step records its own; a report never overwrites it), a
        step reported ended that never started goes through Running. ``stopped``: we asked
        the backend to stop the run, so a step it reports failed was stopped, not failed.
        Returns the names of the steps that moved."""
        if not reports:
            return []
        current = runs_repo.step_statuses(conn, ref.id, list(reports))
        moved = []
        for name, report in reports.items():
            if name not in current:
                continue
            status, started = current[name]
            now_at = StepStatus(status)
            if now_at.terminal:
                continue
            target = report.status
            if stopped and target in (StepStatus.FAILED, StepStatus.ERROR):
                target = StepStatus.CANCELLED
            ran = target not in (StepStatus.OMITTED, StepStatus.SKIPPED, StepStatus.CANCELLED)
            for step in step_path(now_at, target):
                start = started or (
                    report.started_at if ran or step is StepStatus.RUNNING else None
                )
                if not self.move_step(
                    conn,
                    ref,
                    name,
                    now_at,
                    step,
                    started_at=start,
                    finished_at=report.finished_at,
                    error=report.error,
                ):
                    break
                now_at, started = step, start
            else:
                moved.append(name)
        return moved

    # -- whole transactions ---------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        skip_locked: bool,
        only: uuid.UUID | None = None,
        org_limit: int = 0,
        describe: Callable[[RunRecord], dict[str, Any] | None] | None = None,
    ) -> RunRecord | None:
        """Take the oldest Pending run (it becomes Running) or a Running one whose worker's
        lease has expired (its Running steps go back to Pending, to be run again), and return
        it as claimed: fairly between organisations, at most ``org_limit`` runs of one at
        once (``repositories.runs.claimable``). ``describe`` gives the run's first
        ``argo_metadata``, written in the same transaction."""
        now = self.clock()
        with self.db.unit_of_work() as conn:
            found = runs_repo.claimable(
                conn, now, skip_locked=skip_locked, only=only, org_limit=org_limit
            )
            if found is None:
                return None
            run_id, status = found
            run = runs_repo.get_by_id(conn, run_id)
            assert run is not None
            if status == RunStatus.PENDING and not self._within_limit(conn, run):
                return None
            runs_repo.take_lease(conn, run_id, worker_id, _lease(now, lease_seconds))
            ref = RunRef.of(run)
            if run.waiting_reason is not None:
                runs_repo.set_waiting(conn, run_id, None)
                run = replace(run, waiting_reason=None)
            if status == RunStatus.PENDING:
                moved = self.move_run(
                    conn, ref, RunStatus.PENDING, RunStatus.RUNNING, started_at=now
                )
                assert moved, "the claimed run is locked by this transaction"
                run = replace(run, status=RunStatus.RUNNING.value, started_at=now)
            steps = []
            for s in run.steps:
                if s.status == StepStatus.RUNNING:  # its worker died: run it again
                    self.move_step(conn, ref, s.name, StepStatus.RUNNING, StepStatus.PENDING)
                    s = replace(s, status=StepStatus.PENDING.value, started_at=None)
                steps.append(s)
            run = replace(run, steps=steps)
            metadata = describe(run) if describe else None
            if metadata is not None:
                runs_repo.set_metadata(conn, run_id, metadata)
                run = replace(run, argo_metadata=metadata)
        return run

    @staticmethod
    def _within_limit(conn: Connection, run: RunRecord) -> bool:
        """Whether the pipeline's ``max_active_runs`` lets this Pending run start, checked
        again under the pipeline's row lock: the claim's own read cannot see a concurrent
        claim of another run of the pipeline that has not committed yet."""
        if pipelines_repo.max_active_runs(conn, run.pipeline_id, lock=False) is None:
            return True
        limit = pipelines_repo.max_active_runs(conn, run.pipeline_id, lock=True)
        return limit is None or runs_repo.running_count(conn, run.pipeline_id) < limit

    def heartbeat(self, run_id: uuid.UUID, worker_id: str, lease_seconds: float) -> bool:
        """Renew our lease and say whether the run's cancellation was requested, at once."""
        with self.db.unit_of_work() as conn:
            until = _lease(self.clock(), lease_seconds)
            if not runs_repo.renew_lease(conn, run_id, worker_id, until):
                raise LeaseLost(str(run_id))
            return runs_repo.cancel_requested(conn, run_id)

    def publish(self, run_id: uuid.UUID, metadata: dict[str, Any]) -> None:
        with self.db.unit_of_work() as conn:
            runs_repo.set_metadata(conn, run_id, metadata)

    def report(
        self,
        ref: RunRef,
        reports: Mapping[str, StepReport],
        *,
        stopped: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record what a backend reports of steps (and of the run, ``metadata``) at once."""
        if not reports and metadata is None:
            return
        with self.db.unit_of_work() as conn:
            self.settle_steps(conn, ref, reports, stopped=stopped)
            if metadata is not None:
                runs_repo.set_metadata(conn, ref.id, metadata)

    def finish(
        self,
        ref: RunRef,
        outcome: Callable[[list[StepStatus]], RunStatus],
        *,
        message: str | None = None,
        describe: Callable[[RunRecord], dict[str, Any]],
    ) -> RunRecord:
        """End a running run: ``outcome`` says how from its steps' recorded statuses (the
        steps still open end as the run did, ``message`` their reason), its worker lets go,
        and ``describe`` gives its final ``argo_metadata`` from the ended run."""
        with self.db.unit_of_work() as conn:
            run = runs_repo.get_by_id(conn, ref.id)
            assert run is not None
            ended_as = outcome([StepStatus(s.status) for s in run.steps])
            if not self.move_run(conn, ref, RunStatus(run.status), ended_as, error=message):
                raise IllegalTransition(f"run {ref.id} moved while it was being ended")
            runs_repo.release(conn, ref.id)
            ended = runs_repo.get_by_id(conn, ref.id)
            assert ended is not None
            runs_repo.set_metadata(conn, ref.id, describe(ended))
        return ended

    def cancel(self, conn: Connection, run: RunRecord) -> None:
        """Ask for the run's end: a Pending run and its open steps end Cancelled at once; a
        Running one is flagged, and its worker stops it."""
        runs_repo.request_cancel(conn, run.id)
        if run.status != RunStatus.PENDING:
            return
        if not self.move_run(conn, RunRef.of(run), RunStatus.PENDING, RunStatus.CANCELLED):
            raise IllegalTransition(f"run {run.id} is no longer Pending")


def _lease(now: dt.datetime, seconds: float) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds)


def _event(
    ref: RunRef,
    step: str | None,
    old: str | None,
    new: str,
    at: dt.datetime,
) -> events_repo.NewEvent:
    return events_repo.NewEvent(
        run_id=ref.id,
        org_id=ref.org_id,
        pipeline_id=ref.pipeline_id,
        step=step,
        old=None if old is None else str(old),
        new=str(new),
        at=at,
    )
