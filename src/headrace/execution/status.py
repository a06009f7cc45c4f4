"""``argo_metadata`` of a run executed locally, shaped like the status Argo reports."""

from __future__ import annotations

from typing import Any

from headrace.domain.records import RunRecord
from headrace.domain.runs import RunStatus, StepStatus

# Argo's node phases have no Cancelled: a stopped node is Failed there.
_NODE_PHASE = {StepStatus.CANCELLED: "Failed"}
_RUN_PHASE = {RunStatus.CANCELLED: "Failed"}


def local_metadata(run: RunRecord) -> dict[str, Any]:
    selected = [s for s in run.steps if s.status != StepStatus.SKIPPED]
    finished = sum(1 for s in selected if StepStatus(s.status).terminal)
    status = RunStatus(run.status)
    return {
        "executor": "local",
        "namespace": run.argo_manifest.get("metadata", {}).get("namespace"),
        "uid": None,
        "name": run.name,
        "phase": _RUN_PHASE.get(status, status.value),
        "progress": f"{finished}/{len(selected)}",
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "nodes": {
            s.run_name: {
                "displayName": s.name,
                "type": "Pod",
                "phase": _NODE_PHASE.get(StepStatus(s.status), s.status),
                "startedAt": s.started_at.isoformat() if s.started_at else None,
                "finishedAt": s.finished_at.isoformat() if s.finished_at else None,
                "message": s.error,
            }
            for s in run.steps
        },
    }
