"""Render an execution plan as an Argo Workflow manifest: a pure function of plan and settings.

One shared container template runs ``headrace step exec`` with the run id (a workflow
parameter) and the step name (a task parameter). The manifest carries no SQL and no secrets:
the pod reads its step's definition from the metadata store by run id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headrace.execution.plan import ExecutionPlan

STEP_TEMPLATE = "step"
ENTRYPOINT = "main"
LABEL_PREFIX = "headrace.dev"


@dataclass(frozen=True)
class ManifestSettings:
    """The cluster-side choices that shape a Workflow (taken from Settings)."""

    namespace: str
    image: str
    service_account: str
    env_secret: str | None
    cpu_request: str
    memory_request: str
    memory_limit: str
    retry_limit: int
    active_deadline_seconds: int
    pod_gc: str


@dataclass(frozen=True)
class RunIdentity:
    """Who a Workflow belongs to, for its name and labels."""

    workflow_name: str
    run_id: str
    org_id: str
    pipeline_id: str
    version_id: str


def render_manifest(plan: ExecutionPlan, run: RunIdentity, cfg: ManifestSettings) -> dict[str, Any]:
    """The complete Workflow for ``plan``."""
    container: dict[str, Any] = {
        "image": cfg.image,
        "command": ["headrace", "step", "exec"],
        "args": [
            "--run",
            "{{workflow.parameters.run-id}}",
            "--step",
            "{{inputs.parameters.step}}",
        ],
        "resources": {
            "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory_request},
            "limits": {"memory": cfg.memory_limit},
        },
    }
    if cfg.env_secret:
        container["envFrom"] = [{"secretRef": {"name": cfg.env_secret}}]
    tasks = []
    task_of = {step.name: step.task_name for step in plan.steps}
    for step in plan.steps:
        task: dict[str, Any] = {
            "name": step.task_name,
            "template": STEP_TEMPLATE,
            "arguments": {"parameters": [{"name": "step", "value": step.name}]},
        }
        if step.depends:
            task["depends"] = " && ".join(task_of[up] for up in step.depends)
        tasks.append(task)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": run.workflow_name,
            "namespace": cfg.namespace,
            "labels": {
                f"{LABEL_PREFIX}/organisation": run.org_id,
                f"{LABEL_PREFIX}/pipeline": run.pipeline_id,
                f"{LABEL_PREFIX}/version": run.version_id,
                f"{LABEL_PREFIX}/run": run.run_id,
            },
        },
        "spec": {
            "entrypoint": ENTRYPOINT,
            "serviceAccountName": cfg.service_account,
            "activeDeadlineSeconds": cfg.active_deadline_seconds,
            "podGC": {"strategy": cfg.pod_gc},
            "arguments": {"parameters": [{"name": "run-id", "value": run.run_id}]},
            "templates": [
                {
                    "name": STEP_TEMPLATE,
                    "inputs": {"parameters": [{"name": "step"}]},
                    "retryStrategy": {
                        "limit": str(cfg.retry_limit),
                        "retryPolicy": "OnError",
                    },
                    "container": container,
                },
                {"name": ENTRYPOINT, "dag": {"tasks": tasks}},
            ],
        },
    }
