"""The Argo executor: a run's stored manifest submitted to the Argo Server and followed there.

Retries of a run are **new workflows**, not Argo's ``retry``: a headrace retry is a new run
with its own id, name and manifest holding only the steps to run again (the others are
Skipped and their outputs pinned), so it is submitted like any other run. Argo's in-place
retry would reuse the old workflow name and run id, mixing two runs' step records, and its
resubmit would re-run the whole old spec.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from headrace.domain.records import RunRecord
from headrace.execution.argo.client import ArgoApiError, ArgoClient, ArgoError, ArgoUnavailable
from headrace.execution.argo.status import WORKFLOW_FIELDS, observe
from headrace.execution.base import BackendError, Observation

log = logging.getLogger("headrace.argo")

STOP_MESSAGE = "cancelled in headrace"


def _namespace(run: RunRecord) -> str:
    return str(run.argo_manifest["metadata"]["namespace"])


class ArgoExecutor:
    """``Executor`` over one Argo Server (see ``execution/base.py``).

    Polling, not the watch stream: one GET with ``fields=`` every ``poll_seconds`` is a small
    answer, needs no reconnect-and-resume logic (a watch ends whenever the Kubernetes watch
    does) and goes through the same retrying request path as everything else. The step pods
    record their own statuses; what Argo reports is recorded only for the steps that have not
    ended (a step Omitted by Argo, a pod that died before recording its end). A client is
    opened per run (``connect``: its token file is read again for each run) and closed when
    the run is released."""

    def __init__(
        self,
        connect: Callable[[], ArgoClient],
        poll_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connect = connect
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self._clients: dict[uuid.UUID, ArgoClient] = {}

    paced = True
    kind = "argo"

    def describe(self, run: RunRecord) -> None:
        return None  # Argo says what the run is once it has the Workflow

    def submit(self, run: RunRecord) -> Observation:
        """Create the Workflow. If it exists already (a worker died after submitting, or the
        create was retried after a lost answer), follow the existing one: same name, same run.
        """
        client = self._clients[run.id] = self.connect()
        namespace = _namespace(run)
        try:
            try:
                workflow: dict[str, Any] = client.create_workflow(namespace, run.argo_manifest)
            except ArgoApiError as err:
                if err.status != 409:
                    raise
                workflow = client.get_workflow(namespace, run.name, WORKFLOW_FIELDS)
        except ArgoError as err:
            raise BackendError(f"the workflow could not be submitted: {err}") from err
        return observe(workflow, run, run.argo_metadata)

    def poll(self, run: RunRecord) -> Observation:
        self.sleep(self.poll_seconds)
        try:
            workflow = self._clients[run.id].get_workflow(
                _namespace(run), run.name, WORKFLOW_FIELDS
            )
        except ArgoError as err:
            raise BackendError(f"lost track of workflow {run.name}: {err}") from err
        return observe(workflow, run, run.argo_metadata)

    def cancel(self, run: RunRecord) -> None:
        """Stop rather than terminate: no new step starts, exit handlers still run."""
        try:
            self._clients[run.id].stop_workflow(_namespace(run), run.name, STOP_MESSAGE)
        except ArgoApiError as err:  # e.g. it has just ended: the next poll says how
            log.warning("stopping workflow %s was refused: %s", run.name, err)
        except ArgoUnavailable as err:
            raise BackendError(f"the workflow could not be stopped: {err}") from err

    def release(self, run: RunRecord) -> None:
        client = self._clients.pop(run.id, None)
        if client is not None:
            client.close()
