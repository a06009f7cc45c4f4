"""Render an execution plan as an Argo Workflow manifest: a pure function of plan and settings.

One shared container template runs ``headrace step exec`` with the run id (a workflow
parameter) and the Argo node name (``{{node.name}}``, which Argo substitutes in any template:
``<workflow>.<task>`` for a task of the entrypoint DAG, the run step's ``run_name``). The
manifest carries no SQL and no secrets: the pod finds its step by node name among the run's
steps in the metadata store, and its environment (database URL, warehouse) comes from a
Kubernetes Secret named in settings.

Size matters: a Workflow, status included, must stay under etcd's ~1 MB. Everything shared by
the steps is said once (the container template); each DAG task carries only its name, the
template and its ``depends`` (no per-task parameter: the node name already identifies the
task). Task names are the step names made DNS-safe (see ``plan.task_names``), so users
recognise them in the Argo UI, and ``depends`` uses the bare form (``a && b``: each upstream
Succeeded or Skipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from headrace.execution.plan import ExecutionPlan

STEP_TEMPLATE = "step"
RUN_PARAM = "run-id"
ENTRYPOINT = "main"
LABEL_PREFIX = "headrace.dev"
COMMAND = ("headrace", "step", "exec")
SCRATCH_VOLUME = "scratch"
# Where a step writes, all on the one bounded scratch emptyDir (the root filesystem is
# read-only): temporary files and DuckDB's spill, and the data dir (the image's
# HEADRACE_DATA_DIR: the S3 mirror).
SCRATCH_MOUNTS = {"/tmp": "tmp", "/var/lib/headrace": "data"}


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
    scratch_size: str
    ttl_seconds: int
    run_as_user: int


@dataclass(frozen=True)
class RunIdentity:
    """Who a Workflow belongs to, for its name and labels."""

    workflow_name: str
    run_id: str
    org_id: str
    pipeline_id: str
    version_id: str


def node_name(workflow_name: str, task_name: str) -> str:
    """The Argo node name of a DAG task of the entrypoint: what run steps record as run_name."""
    return f"{workflow_name}.{task_name}"


_RETRY_SUFFIX = re.compile(r"\(\d+\)$")


def run_name_of_node(node: str) -> str:
    """The run step's ``run_name`` for the node name a pod was given. Argo substitutes
    ``{{node.name}}`` before it names retry attempts, so a pod gets ``<workflow>.<task>``
    on every attempt; an attempt's own name (``<workflow>.<task>(1)``) is accepted too."""
    return _RETRY_SUFFIX.sub("", node)


def _step_template(cfg: ManifestSettings) -> dict[str, Any]:
    container: dict[str, Any] = {
        "image": cfg.image,
        "command": list(COMMAND),
        "args": [
            "--run",
            f"{{{{workflow.parameters.{RUN_PARAM}}}}}",
            "--node",
            "{{node.name}}",
        ],
        "resources": {
            "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory_request},
            "limits": {"memory": cfg.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": SCRATCH_VOLUME, "mountPath": path, "subPath": sub}
            for path, sub in SCRATCH_MOUNTS.items()
        ],
    }
    if cfg.env_secret:
        container["envFrom"] = [{"secretRef": {"name": cfg.env_secret}}]
    return {
        "name": STEP_TEMPLATE,
        # A step's own failure (exit 1) is final; only what broke around it is retried:
        # a pod that was evicted, or an init/wait container that failed.
        "retryStrategy": {"limit": str(cfg.retry_limit), "retryPolicy": "OnError"},
        "container": container,
    }


def _tasks(plan: ExecutionPlan) -> list[dict[str, Any]]:
    task_of = {step.name: step.task_name for step in plan.steps}
    tasks = []
    for step in plan.steps:
        task: dict[str, Any] = {"name": step.task_name, "template": STEP_TEMPLATE}
        if step.depends:
            task["depends"] = " && ".join(task_of[up] for up in step.depends)
        tasks.append(task)
    return tasks


def render_manifest(plan: ExecutionPlan, run: RunIdentity, cfg: ManifestSettings) -> dict[str, Any]:
    """The complete Workflow for ``plan``."""
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
            "ttlStrategy": {"secondsAfterCompletion": cfg.ttl_seconds},
            # The restricted Pod Security profile, as the pods of deploy/ follow it.
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": cfg.run_as_user,
                "runAsGroup": cfg.run_as_user,
                "fsGroup": cfg.run_as_user,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumes": [{"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": cfg.scratch_size}}],
            "arguments": {"parameters": [{"name": RUN_PARAM, "value": run.run_id}]},
            "templates": [
                _step_template(cfg),
                # failFast off: like the local executor, a failed step omits only what
                # depends on it, and independent branches run to the end.
                {"name": ENTRYPOINT, "dag": {"failFast": False, "tasks": _tasks(plan)}},
            ],
        },
    }
