"""Compile a pipeline version and a step selection into an execution plan: pure data, no I/O."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
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
_MAX_TASK = 63  # a DNS-1123 label, which Argo also requires of task names
# Argo evaluates ``depends`` with expr after turning ``-`` into ``_``: a task name must not read
# as a number or as one of expr's words there.
_EXPR_WORD_LIST = (
    "true false nil not and or in matches contains startswith endswith let if else all any "
    "none one filter map count len abs int float string type"
)
_EXPR_WORDS = frozenset(_EXPR_WORD_LIST.split())


def _slug(step_name: str) -> str:
    slug = _NOT_DNS.sub("-", step_name.lower()).strip("-")[:_MAX_TASK].rstrip("-")
    if not slug or not slug[0].isalpha() or slug.replace("-", "_") in _EXPR_WORDS:
        slug = f"s-{slug}"[:_MAX_TASK].rstrip("-")
    return slug


def task_names(step_names: Collection[str]) -> dict[str, str]:
    """A DNS-1123 task name for each step: the step name itself, lower-cased with every run of
    other characters turned into ``-`` (``load_orders_0042`` → ``load-orders-0042``), so that
    users recognise it in the Argo UI. Only names that would then clash (``a_b``/``a-b``/``A_B``)
    get a hash of the step name appended. Computed over all the steps of a version, so a step
    keeps its task name in every run of that version, partial or retried."""
    names = {name: _slug(name) for name in step_names}
    length = 8
    while True:
        taken = Counter(names.values())
        clashing = [n for n, slug in names.items() if taken[slug] > 1]
        if not clashing:
            return names
        for name in clashing:
            digest = hashlib.sha1(name.encode()).hexdigest()[:length]
            names[name] = f"{_slug(name)[: _MAX_TASK - length - 1].rstrip('-')}-{digest}"
        length += 4


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


def compile_plan(
    steps: Sequence[Step], selected: Collection[str], dag: Dag | None = None
) -> ExecutionPlan:
    """The plan that runs exactly ``selected`` in dependency order (``dag``: the steps' graph,
    when the caller has built it already)."""
    dag = dag or Dag.build(steps)
    by_name = {s.name: s for s in steps}
    tasks = task_names(list(by_name))
    chosen = set(selected)
    written = {out for name in chosen for out in by_name[name].config.output_datasets}
    planned: list[PlannedStep] = []
    external: dict[str, None] = {}  # an ordered set: a pipeline may read thousands of sources
    for name in dag.topological_order():
        if name not in chosen:
            continue
        config = by_name[name].config
        for inp in config.input_datasets:
            if inp not in written:
                external.setdefault(inp)
        planned.append(
            PlannedStep(
                name=name,
                task_name=tasks[name],
                depends=tuple(up for up in dag.upstream[name] if up in chosen),
                inputs=config.input_datasets,
                outputs=config.output_datasets,
            )
        )
    skipped = tuple(s.name for s in steps if s.name not in chosen)
    return ExecutionPlan(steps=tuple(planned), skipped=skipped, external_inputs=tuple(external))
