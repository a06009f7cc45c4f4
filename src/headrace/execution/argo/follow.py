"""Drive one claimed run on Argo: submit, poll until the Workflow ends, record what is seen.

Polling, not the watch stream: one GET with ``fields=`` every ``argo_poll_seconds`` is a small
answer, needs no reconnect-and-resume logic (a watch ends whenever the Kubernetes watch does)
and goes through the same retrying request path as everything else.

Who writes what: the step pods record their own status, logs and outputs through
``StepRunner`` in the metadata store. This loop only fills what pods cannot say (a step
Omitted by Argo, a pod that died before recording its end, a stop) and never overwrites a
step that has already ended (``set_step_if_active``). Argo ``Failed`` (the work failed) and
``Error`` (the system failed) stay apart; a Workflow that ends after our stop request is
Cancelled. When the server cannot be reached, after the client's retries, the run ends
``Error`` with a readable message, keeping every status and node already seen.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from headrace.domain.records import RunRecord
from headrace.domain.runs import RunStatus, StepStatus
from headrace.execution.argo.client import ArgoApiError, ArgoClient, ArgoError, ArgoUnavailable
from headrace.execution.argo.executor import ArgoExecutor
from headrace.execution.base import Executor, Observation
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.services.clock import utcnow
from headrace.settings import Settings

log = logging.getLogger("headrace.argo")


def run_on_argo(
    db: Database,
    settings: Settings,
    run_id: uuid.UUID,
    *,
    heartbeat: Callable[[], None],
) -> RunStatus:
    """Execute a claimed run on the Argo Server of ``settings``; returns its final status."""
    client = ArgoClient.from_settings(settings)
    try:
        return Follower(db, ArgoExecutor(client), run_id, settings.argo_poll_seconds).run(heartbeat)
    finally:
        client.close()


class Follower:
    """The submit → poll → record loop of one run, over any ``Executor``."""

    def __init__(
        self,
        db: Database,
        executor: Executor,
        run_id: uuid.UUID,
        poll_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.executor = executor
        self.run_id = run_id
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self.stop_sent = False

    def run(self, heartbeat: Callable[[], None]) -> RunStatus:
        run = self._load()
        try:
            seen = self.executor.submit(run)
        except ArgoError as err:
            return self._end(RunStatus.ERROR, f"the workflow could not be submitted: {err}")
        cancel_tried = False
        while True:
            run = self._record(seen)
            if seen.finished:
                return self._end(self._outcome(seen, run), seen.message, seen.metadata)
            heartbeat()
            if not cancel_tried and self._cancel_requested():
                cancel_tried = True
                try:
                    self.executor.cancel(run)
                    self.stop_sent = True
                except ArgoApiError as err:  # e.g. it has just ended: the next poll says how
                    log.warning("stopping workflow %s was refused: %s", run.name, err)
                except ArgoUnavailable as err:
                    return self._end(
                        RunStatus.ERROR, f"the workflow could not be stopped: {err}", seen.metadata
                    )
            self.sleep(self.poll_seconds)
            try:
                seen = self.executor.poll(run)
            except ArgoError as err:
                return self._end(
                    RunStatus.ERROR, f"lost track of workflow {run.name}: {err}", seen.metadata
                )

    # -- the metadata store -----------------------------------------------------------------

    def _load(self) -> RunRecord:
        with self.db.unit_of_work(write=False) as conn:
            run = runs_repo.get_by_id(conn, self.run_id)
        if run is None:
            raise LookupError(f"there is no run {self.run_id}")
        return run

    def _cancel_requested(self) -> bool:
        with self.db.unit_of_work(write=False) as conn:
            return runs_repo.cancel_requested(conn, self.run_id)

    def _record(self, seen: Observation) -> RunRecord:
        """Write what Argo says of steps that have not ended yet, and the run's metadata."""
        now = utcnow()
        with self.db.unit_of_work() as conn:
            run = runs_repo.get_by_id(conn, self.run_id)
            assert run is not None
            for step in run.steps:
                obs = seen.steps.get(step.name)
                if obs is None or StepStatus(step.status).terminal:
                    continue
                if obs.status is StepStatus.RUNNING and step.status == StepStatus.PENDING:
                    runs_repo.set_step_if_active(
                        conn,
                        self.run_id,
                        step.name,
                        status=StepStatus.RUNNING.value,
                        started_at=obs.started_at or now,
                    )
                elif obs.status.terminal:
                    status = obs.status
                    if self.stop_sent and status in (StepStatus.FAILED, StepStatus.ERROR):
                        status = StepStatus.CANCELLED  # its pod was stopped by our request
                    ran = status not in (StepStatus.OMITTED, StepStatus.SKIPPED)
                    runs_repo.set_step_if_active(
                        conn,
                        self.run_id,
                        step.name,
                        status=status.value,
                        started_at=step.started_at or (obs.started_at if ran else None),
                        finished_at=obs.finished_at or now,
                        error=step.error or obs.message,
                    )
            runs_repo.set_run(conn, self.run_id, argo_metadata=seen.metadata)
            fresh = runs_repo.get_by_id(conn, self.run_id)
        assert fresh is not None
        return fresh

    def _outcome(self, seen: Observation, run: RunRecord) -> RunStatus:
        if self.stop_sent:
            return RunStatus.CANCELLED
        if seen.phase == "Error":
            return RunStatus.ERROR
        statuses = [StepStatus(s.status) for s in run.steps]
        if seen.phase == "Failed":
            # A step whose pod recorded Error (storage, our bug) exits 1 like a failed query,
            # so Argo says Failed; the step's own record knows better.
            return RunStatus.ERROR if StepStatus.ERROR in statuses else RunStatus.FAILED
        unfinished = any(not s.terminal for s in statuses)
        return RunStatus.ERROR if unfinished else RunStatus.SUCCEEDED

    def _end(
        self, outcome: RunStatus, message: str | None, metadata: dict[str, Any] | None = None
    ) -> RunStatus:
        """Finish the run: steps still open end as the run did, the lease is released."""
        if outcome is RunStatus.CANCELLED:
            leftover = StepStatus.CANCELLED
        elif outcome is RunStatus.FAILED:
            leftover = StepStatus.OMITTED  # the workflow ended before they could run
        else:
            leftover = StepStatus.ERROR
        now = utcnow()
        with self.db.unit_of_work() as conn:
            run = runs_repo.get_by_id(conn, self.run_id)
            assert run is not None
            for step in run.steps:
                if not StepStatus(step.status).terminal:
                    runs_repo.set_step_if_active(
                        conn,
                        self.run_id,
                        step.name,
                        status=leftover.value,
                        finished_at=now,
                        error=step.error or message,
                    )
            final_metadata = dict(metadata if metadata is not None else run.argo_metadata)
            final_metadata["executor"] = "argo"
            if outcome is RunStatus.ERROR and message:
                final_metadata["message"] = message
            runs_repo.set_run(
                conn,
                self.run_id,
                status=outcome.value,
                finished_at=now,
                worker_id=None,
                lease_expires_at=None,
                argo_metadata=final_metadata,
            )
        if outcome is RunStatus.ERROR:
            log.error("run %s ended Error: %s", self.run_id, message)
        else:
            log.info("run %s %s on Argo", self.run_id, outcome.value)
        return outcome
