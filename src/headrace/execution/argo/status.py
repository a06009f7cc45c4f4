"""Read a Workflow object from the Argo Server as an ``Observation``: pure, no I/O.

A run step is the DAG task node whose ``name`` is the step's ``run_name``
(``<workflow>.<task>``); with a ``retryStrategy`` that node is of type ``Retry`` and its phase
is the outcome of all attempts, which is what the step's status should be. Should the names
ever differ, the task node is also found by ``displayName`` == task name inside the
entrypoint DAG.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from headrace.domain.records import RunRecord
from headrace.domain.runs import StepStatus
from headrace.execution.base import Observation, StepObservation

# Argo node phases → run-step statuses; the words are the same on purpose.
NODE_STATUS = {
    "Pending": StepStatus.PENDING,
    "Running": StepStatus.RUNNING,
    "Succeeded": StepStatus.SUCCEEDED,
    "Failed": StepStatus.FAILED,
    "Error": StepStatus.ERROR,
    "Skipped": StepStatus.SKIPPED,
    "Omitted": StepStatus.OMITTED,
}
FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Error"})
NODE_FIELDS = ("id", "displayName", "type", "phase", "startedAt", "finishedAt", "message")

# What the executor asks the server for: enough to follow a run, without the spec.
WORKFLOW_FIELDS = ",".join(
    (
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "metadata.creationTimestamp",
        "status.phase",
        "status.progress",
        "status.message",
        "status.startedAt",
        "status.finishedAt",
        "status.nodes",
    )
)


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 time from Argo (``2026-01-02T03:04:05Z``), aware UTC; None when absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _task_of(run: RunRecord, run_name: str) -> str | None:
    prefix = f"{run.name}."
    return run_name[len(prefix) :] if run_name.startswith(prefix) else None


def _step_nodes(run: RunRecord, nodes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The node of each run step found in ``nodes``, by step name."""
    by_name = {n.get("name"): n for n in nodes.values() if isinstance(n, dict)}
    in_dag = {
        n.get("displayName"): n
        for n in nodes.values()
        if isinstance(n, dict) and n.get("boundaryID") == run.name and n.get("type") != "DAG"
    }
    found: dict[str, dict[str, Any]] = {}
    for step in run.steps:
        node = by_name.get(step.run_name)
        if node is None:
            task = _task_of(run, step.run_name)
            node = in_dag.get(task) if task is not None else None
        if node is not None:
            found[step.name] = node
    return found


def observe(workflow: dict[str, Any], run: RunRecord, previous: dict[str, Any]) -> Observation:
    """What ``workflow`` says of ``run``. ``previous`` is the run's last ``argo_metadata``:
    nodes seen before and missing now (a response without nodes) are kept, never lost."""
    if previous.get("executor") != "argo":
        previous = {}  # the placeholder written at run creation, not anything Argo said
    meta = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    phase = str(status.get("phase") or "")
    nodes = status.get("nodes") or {}
    step_nodes = _step_nodes(run, nodes if isinstance(nodes, dict) else {})
    steps: dict[str, StepObservation] = {}
    seen_nodes: dict[str, dict[str, Any]] = dict(previous.get("nodes") or {})
    run_names = {s.name: s.run_name for s in run.steps}
    for name, node in step_nodes.items():
        node_phase = str(node.get("phase") or "Pending")
        steps[name] = StepObservation(
            status=NODE_STATUS.get(node_phase, StepStatus.PENDING),
            started_at=parse_time(node.get("startedAt")),
            finished_at=parse_time(node.get("finishedAt")),
            message=node.get("message") or None,
        )
        seen_nodes[run_names[name]] = {
            "displayName": node.get("displayName"),
            **{k: node.get(k) for k in NODE_FIELDS if k != "displayName"},
        }
    metadata = {
        "executor": "argo",
        "name": meta.get("name", run.name),
        "namespace": meta.get("namespace", previous.get("namespace")),
        "uid": meta.get("uid", previous.get("uid")),
        "creationTimestamp": meta.get("creationTimestamp", previous.get("creationTimestamp")),
        # "" is a Workflow the controller has not picked up yet; Argo's UI shows it pending.
        "phase": phase or "Pending",
        "progress": status.get("progress", previous.get("progress")),
        "message": status.get("message"),
        "startedAt": status.get("startedAt", previous.get("startedAt")),
        "finishedAt": status.get("finishedAt"),
        "nodes": seen_nodes,
    }
    return Observation(
        phase=phase,
        finished=phase in FINISHED_PHASES,
        message=status.get("message") or None,
        steps=steps,
        metadata=metadata,
    )
