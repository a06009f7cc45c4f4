"""Compile a pipeline version and a step selection into an execution plan: pure data, no I/O."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from headrace.domain.dag import Dag
from headrace.domain.pipeline import Step
from headrace.domain.problems import Problem


class SelectionError(ValueError):
    """A partial-run selection that names unknown steps or an impossible range."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.msg for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class PlannedStep:
    """A selected step: what it reads and writes, and the selected steps it waits for."""

    name: str
    task_name: str
    depends: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ExecutionPlan:
    """Selected steps in dependency order, and the datasets read that no selected step writes."""

    steps: tuple[PlannedStep, ...]
    skipped: tuple[str, ...]
    external_inputs: tuple[str, ...]

    def step(self, name: str) -> PlannedStep:
        for planned in self.steps:
            if planned.name == name:
                return planned
        raise KeyError(name)


_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def task_name(step_name: str) -> str:
    """A DNS-1123 label for a step: the name itself when it already is one, else a slug plus a
    hash of the name so that two names never map to the same task."""
    slug = _NOT_DNS.sub("-", step_name.lower()).strip("-")[:50].strip("-")
    if slug == step_name and slug:
        return slug
    digest = hashlib.sha1(step_name.encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"s-{digest}"


def select(dag: Dag, start: str | None, end: str | None) -> set[str]:
    """The steps of a partial run: downstream of ``start`` and upstream of ``end``, both
    included; everything when neither is given."""
    names = {s.name for s in dag.steps}
    problems = [
        Problem(
            ("body", field), f"there is no step named {value!r} in this version", "run.unknown_step"
        )
        for field, value in (("start_job_name", start), ("end_job_name", end))
        if value is not None and value not in names
    ]
    if problems:
        raise SelectionError(problems)
    selected = set(names)
    if start is not None:
        selected &= dag.descendants(start)
    if end is not None:
        selected &= dag.ancestors(end)
    if not selected:
        raise SelectionError(
            [
                Problem(
                    ("body", "end_job_name"),
                    f"step {end!r} is not downstream of step {start!r}",
                    "run.empty_selection",
                )
            ]
        )
    return selected


def compile_plan(steps: Sequence[Step], selected: Collection[str]) -> ExecutionPlan:
    """The plan that runs exactly ``selected`` in dependency order."""
    dag = Dag.build(steps)
    by_name = {s.name: s for s in steps}
    chosen = set(selected)
    written = {out for name in chosen for out in by_name[name].config.output_datasets}
    planned: list[PlannedStep] = []
    external: list[str] = []
    for name in dag.topological_order():
        if name not in chosen:
            continue
        config = by_name[name].config
        for inp in config.input_datasets:
            if inp not in written and inp not in external:
                external.append(inp)
        planned.append(
            PlannedStep(
                name=name,
                task_name=task_name(name),
                depends=tuple(up for up in dag.upstream[name] if up in chosen),
                inputs=config.input_datasets,
                outputs=config.output_datasets,
            )
        )
    skipped = tuple(s.name for s in steps if s.name not in chosen)
    return ExecutionPlan(steps=tuple(planned), skipped=skipped, external_inputs=tuple(external))
