"""Fixed pipelines and settings for manifest tests: the same input always renders the same
Workflow, so golden files can pin it."""

from __future__ import annotations

from typing import Any

from headrace.domain.pipeline import Step, step_from_dict
from headrace.execution.argo.manifest import ManifestSettings, RunIdentity, render_manifest
from headrace.execution.plan import compile_plan
from tests.factories import diamond_steps, generated_steps, make_step

SETTINGS = ManifestSettings(
    namespace="headrace",
    image="ghcr.io/headrace/headrace:0.1.0",
    service_account="headrace-step",
    env_secret="headrace-env",
    cpu_request="500m",
    memory_request="1Gi",
    memory_limit="4Gi",
    retry_limit=2,
    active_deadline_seconds=86400,
    pod_gc="OnPodSuccess",
    scratch_size="80Gi",
    ttl_seconds=86400,
    run_as_user=10001,
)


def identity(workflow_name: str) -> RunIdentity:
    return RunIdentity(
        workflow_name=workflow_name,
        run_id="00000000-0000-4000-8000-000000000001",
        org_id="00000000-0000-4000-8000-000000000002",
        pipeline_id="00000000-0000-4000-8000-000000000003",
        version_id="00000000-0000-4000-8000-000000000004",
    )


def steps_of(bodies: list[dict[str, Any]]) -> list[Step]:
    return [step_from_dict(b["name"], b["config"]) for b in bodies]


def partial_steps() -> list[dict[str, Any]]:
    """A five-step chain with names that are not DNS labels, run from the second to the
    fourth step."""
    return [
        make_step("Load_Orders", "SELECT range AS n FROM range(3)", [], ["raw_orders"]),
        make_step("clean_orders", "SELECT n FROM raw_orders", ["raw_orders"], ["orders"]),
        make_step("clean-orders", "SELECT n FROM orders", ["orders"], ["orders2"]),
        make_step("2024_report", "SELECT n FROM orders2", ["orders2"], ["report"]),
        make_step("publish", "SELECT n FROM report", ["report"], ["published"]),
    ]


# name → (step bodies, selected step names or None for all)
CASES: dict[str, tuple[list[dict[str, Any]], list[str] | None]] = {
    "linear": (generated_steps(), None),
    "diamond": (diamond_steps(), None),
    "partial": (partial_steps(), ["clean_orders", "clean-orders", "2024_report"]),
}


def render_case(name: str) -> dict[str, Any]:
    bodies, selected = CASES[name]
    steps = steps_of(bodies)
    plan = compile_plan(steps, selected if selected is not None else [s.name for s in steps])
    return render_manifest(plan, identity(f"{name}-0123456789ab"), SETTINGS)
