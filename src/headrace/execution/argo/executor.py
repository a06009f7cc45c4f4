"""The Argo executor: a run's stored manifest submitted to the Argo Server and followed there.

Retries of a run are **new workflows**, not Argo's ``retry``: a headrace retry is a new run
with its own id, name and manifest holding only the steps to run again (the others are
Skipped and their outputs pinned), so it is submitted like any other run. Argo's in-place
retry would reuse the old workflow name and run id, mixing two runs' step records, and its
resubmit would re-run the whole old spec.
"""

from __future__ import annotations

from typing import Any

from headrace.domain.records import RunRecord
from headrace.execution.argo.client import ArgoApiError, ArgoClient
from headrace.execution.argo.status import WORKFLOW_FIELDS, observe
from headrace.execution.base import Observation

STOP_MESSAGE = "cancelled in headrace"


def _namespace(run: RunRecord) -> str:
    return str(run.argo_manifest["metadata"]["namespace"])


class ArgoExecutor:
    """``Executor`` over one Argo Server (see ``execution/base.py``)."""

    def __init__(self, client: ArgoClient) -> None:
        self.client = client

    def submit(self, run: RunRecord) -> Observation:
        """Create the Workflow. If it exists already (a worker died after submitting, or the
        create was retried after a lost answer), follow the existing one: same name, same run.
        """
        namespace = _namespace(run)
        try:
            workflow: dict[str, Any] = self.client.create_workflow(namespace, run.argo_manifest)
        except ArgoApiError as err:
            if err.status != 409:
                raise
            workflow = self.client.get_workflow(namespace, run.name, WORKFLOW_FIELDS)
        return observe(workflow, run, run.argo_metadata)

    def poll(self, run: RunRecord) -> Observation:
        workflow = self.client.get_workflow(_namespace(run), run.name, WORKFLOW_FIELDS)
        return observe(workflow, run, run.argo_metadata)

    def cancel(self, run: RunRecord) -> None:
        """Stop rather than terminate: no new step starts, exit handlers still run."""
        self.client.stop_workflow(_namespace(run), run.name, STOP_MESSAGE)
