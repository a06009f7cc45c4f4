"""What ``Client.push_pipeline`` (and so ``headrace pipelines push``) reports: the steps and
parameters of a new version against the current one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headrace.domain.pipeline import Step, step_from_dict
from headrace.schemas.pipelines import PipelineVersionRead

_FIELDS = ("query", "input_datasets", "output_datasets", "job_type", "query_type")


def step_diff(old: Sequence[Step], new: Sequence[Step]) -> list[str]:
    """One line per added, removed or changed step (naming the fields that changed), and one
    when the order changed; empty when both are the same steps in the same order."""
    before = {s.name: s for s in old}
    after = {s.name: s for s in new}
    lines = [f"+ {s.name}: added" for s in new if s.name not in before]
    lines += [f"- {s.name}: removed" for s in old if s.name not in after]
    for step in new:
        was = before.get(step.name)
        if was is not None and was != step:
            changed = [f for f in _FIELDS if getattr(was.config, f) != getattr(step.config, f)]
            lines.append(f"~ {step.name}: {', '.join(changed)} changed")
    kept_old = [s.name for s in old if s.name in after]
    kept_new = [s.name for s in new if s.name in before]
    if kept_old != kept_new:
        lines.append(f"↕ order: {' → '.join(kept_new)}")
    return lines


def version_diff(
    current: PipelineVersionRead | None,
    steps: Sequence[Mapping[str, Any]],
    parameters: Sequence[Mapping[str, Any]],
) -> list[str]:
    """``step_diff`` of the current version's steps and the given step bodies, and a line
    when the declared parameters differ; empty when a new version would change nothing."""
    old = [step_from_dict(s.name, s.config.model_dump()) for s in current.steps] if current else []
    new = [step_from_dict(s["name"], s["config"]) for s in steps]
    lines = step_diff(old, new)
    declared = current.parameters if current else []
    if declared != list(parameters):
        lines.append("parameters changed")
    return lines
