"""What a run will do, decided once, before it exists: for each step of the version, run,
reuse or skip, why, and which version of each input it reads.

One function, ``decide``, makes the decision for a plan (``POST …/runs/plan/``), a new run
and a retry alike, inside their transaction, so a plan cannot disagree with the run made from
the same state. A selected step is reused when an earlier Succeeded step of the organisation
has its fingerprint (``domain/fingerprint.py``) and every output dataset is still at the
version that step wrote; otherwise it runs. A step downstream of a step that runs always runs
(its input will be a version that does not exist yet, so no earlier result can match), which is
why the whole decision can be made before anything runs: the steps are decided in waves of
equal depth, each wave's fingerprints looked up in one indexed query.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import version as installed_version

from sqlalchemy import Connection

from headrace.domain.dag import Dag
from headrace.domain.fingerprint import ENGINE, Recipe, fingerprint, recipe
from headrace.domain.pipeline import Step
from headrace.domain.problems import Problem
from headrace.domain.records import RunStepRecord, VersionRecord
from headrace.execution.plan import ExecutionPlan, compile_plan
from headrace.persistence.db import RecipeCache
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.persistence.repositories import reuse as reuse_repo


class Action(StrEnum):
    RUN = "run"
    REUSE = "reuse"
    SKIP = "skip"


@dataclass(frozen=True)
class ReusedFrom:
    """The earlier step whose result a step reuses, what it wrote and how long it took."""

    run_id: uuid.UUID
    step_name: str
    output_versions: dict[str, int]
    seconds: float | None


@dataclass(frozen=True)
class StepDecision:
    """``reads``: each input's version, or ``"step NAME"`` for an output of a step of the run
    that is still to run (None: the dataset has no version, a problem of the plan)."""

    name: str
    action: Action
    reason: str
    reads: dict[str, int | str | None] = field(default_factory=dict)
    reused_from: ReusedFrom | None = None


@dataclass(frozen=True)
class RunDecision:
    """Every step's decision (in the version's order), the execution plan of the steps that
    run, and what would stop the run from being made."""

    steps: list[StepDecision]
    execution: ExecutionPlan
    problems: list[Problem]
    # The recipes made for this decision that the version does not keep yet: a run made
    # from it keeps them (``pipelines_repo.keep_recipes``).
    recipes_made: dict[str, Recipe] = field(default_factory=dict)

    def reused(self) -> list[StepDecision]:
        return [d for d in self.steps if d.action is Action.REUSE]


# The engine part of every fingerprint: the DuckDB that runs steps and headrace's own. Read
# once: the installed distributions are looked up on disk.
ENGINE_VERSION = f"duckdb {installed_version('duckdb')}/{ENGINE}"


def recipe_of(kept: RecipeCache, version: VersionRecord, step: Step) -> Recipe:
    """The recipe of a step of a version: the one kept with the version, or made once per
    process (``kept``). Parsing and printing its SQL is most of what planning a run costs,
    and a version never changes, so the first run to make a recipe keeps it with the version
    (then a run in another process, such as the next ``headrace run``, never loads the
    parser)."""
    found = version.recipes.get(step.name)
    if found is not None:
        return found
    key = (version.id, step.name)
    found = kept.get(key)
    if found is None:
        found = recipe(step.config)
        kept.put(key, found)
    return found


def step_fingerprint(
    made: Recipe,
    inputs: Mapping[str, tuple[uuid.UUID, int]],
    outputs: Mapping[str, uuid.UUID],
    parameters: Mapping[str, object],
    engine: str,
) -> str | None:
    """The fingerprint of a step reading ``inputs`` (dataset id, version) and writing
    ``outputs``: the same call when a run is planned and when a step that ran is recorded."""
    return fingerprint(
        made,
        inputs={n: (str(i), v) for n, (i, v) in inputs.items()},
        outputs={n: str(i) for n, i in outputs.items()},
        parameters=parameters,
        engine=engine,
    )


def _levels(dag: Dag, chosen: Collection[str]) -> list[list[str]]:
    """The chosen steps in waves: each after every chosen step upstream of it."""
    depth: dict[str, int] = {}
    for name in dag.topological_order():
        if name in chosen:
            depth[name] = 1 + max((depth[u] for u in dag.upstream[name] if u in depth), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name, level in depth.items():
        waves[level].append(name)
    return waves


@dataclass
class _Planner:
    conn: Connection
    org_id: uuid.UUID
    dag: Dag
    steps: dict[str, Step]
    chosen: set[str]
    use_cache: bool
    parameters: Mapping[str, object]
    version: VersionRecord
    recipes: RecipeCache
    catalog: dict[str, tuple[uuid.UUID, int | None]]
    decided: dict[str, StepDecision] = field(default_factory=dict)
    made: dict[str, Recipe] = field(default_factory=dict)
    # the version each dataset is read at when a step of this run reuses (or carries) it
    written: dict[str, int] = field(default_factory=dict)

    def reads(self, name: str) -> dict[str, int | str | None]:
        found: dict[str, int | str | None] = {}
        for inp in self.steps[name].config.input_datasets:
            writer = self.dag.writer_of.get(inp)
            if writer in self.chosen and writer != name:
                upstream = self.decided[writer]
                found[inp] = (
                    f"step {writer}" if upstream.action is Action.RUN else self.written.get(inp)
                )
            else:
                found[inp] = self.written.get(inp, self.catalog.get(inp, (None, None))[1])
        return found

    def wave(self, names: list[str]) -> None:
        waiting: dict[str, tuple[str, dict[str, int | str | None]]] = {}
        for name in names:
            reads = self.reads(name)
            reason, key = self.prejudge(name, reads)
            if key is None:
                self.decided[name] = StepDecision(name, Action.RUN, reason, reads)
            else:
                waiting[name] = (key, reads)
        earlier = reuse_repo.succeeded(self.conn, self.org_id, {k for k, _ in waiting.values()})
        for name, (key, reads) in waiting.items():
            self.decided[name] = self.judge(name, reads, earlier.get(key, []))

    def prejudge(self, name: str, reads: dict[str, int | str | None]) -> tuple[str, str | None]:
        """Why the step runs without looking for an earlier result, or its fingerprint."""
        config = self.steps[name].config
        for inp, read in reads.items():
            if isinstance(read, str):
                return f"it reads {inp}, which {read} writes in this run", None
            if read is None:
                return f"input {inp} has no version yet", None
        if not self.use_cache:
            return "use_cache: false on the run", None
        made = recipe_of(self.recipes, self.version, self.steps[name])
        if name not in self.version.recipes:
            self.made[name] = made
        if made.refusal is not None:
            return f"never reused: {made.refusal}", None
        outputs = {}
        for out in config.output_datasets:
            known = self.catalog.get(out)
            if known is None or known[1] is None:
                return f"output {out} has never been written", None
            outputs[out] = known[0]
        inputs = {inp: (self.catalog[inp][0], int(v)) for inp, v in reads.items() if v is not None}
        key = step_fingerprint(made, inputs, outputs, self.parameters, ENGINE_VERSION)
        assert key is not None
        return "", key

    def judge(
        self, name: str, reads: dict[str, int | str | None], earlier: list[reuse_repo.EarlierResult]
    ) -> StepDecision:
        outputs = self.steps[name].config.output_datasets
        current = {out: self.catalog[out][1] for out in outputs}
        for found in earlier:
            if all(found.output_versions.get(out) == current[out] for out in outputs):
                self.written.update(found.output_versions)
                return StepDecision(
                    name,
                    Action.REUSE,
                    f"same SQL and inputs as step {found.step_name} of run {found.run_id}",
                    reads,
                    ReusedFrom(found.run_id, found.step_name, found.output_versions, found.seconds),
                )
        if earlier:
            wrote = earlier[0].output_versions
            moved = [
                f"{out} (now version {current[out]}, it wrote {wrote.get(out)})"
                for out in outputs
                if wrote.get(out) != current[out]
            ]
            return StepDecision(
                name,
                Action.RUN,
                "its earlier result was overwritten since: " + ", ".join(moved),
                reads,
            )
        return StepDecision(name, Action.RUN, "no earlier run computed it from these inputs", reads)


def decide(
    conn: Connection,
    org_id: uuid.UUID,
    steps: Sequence[Step],
    dag: Dag,
    selected: Collection[str],
    *,
    version: VersionRecord,
    recipes: RecipeCache,
    use_cache: bool,
    parameters: Mapping[str, object] | None = None,
    carried: Mapping[str, RunStepRecord] | None = None,
    carried_from: uuid.UUID | None = None,
    unselected_reason: str = "not selected (start_job_name/end_job_name)",
) -> RunDecision:
    """Decide every step of a run of ``steps`` that selects ``selected``. ``carried``: the
    steps of the run ``carried_from`` (which a retry retries) whose results it reuses as they
    are."""
    carried = carried or {}
    by_name = {s.name: s for s in steps}
    chosen = set(selected) - set(carried)
    names = {d for s in steps for d in (*s.config.input_datasets, *s.config.output_datasets)}
    rows = datasets_repo.by_names(conn, org_id, names)
    planner = _Planner(
        conn=conn,
        org_id=org_id,
        dag=dag,
        steps=by_name,
        chosen=chosen,
        use_cache=use_cache,
        parameters=parameters or {},
        version=version,
        recipes=recipes,
        catalog={n: (uuid.UUID(str(r.id)), r.current_version) for n, r in rows.items()},
    )
    for name, earlier in carried.items():
        assert carried_from is not None
        planner.written.update({k: int(v) for k, v in earlier.output_versions.items()})
        took = (
            (earlier.finished_at - earlier.started_at).total_seconds()
            if earlier.started_at is not None and earlier.finished_at is not None
            else earlier.saved_seconds
        )
        origin = ReusedFrom(
            earlier.reused_from_run_id or carried_from,
            earlier.reused_from_step or name,
            {k: int(v) for k, v in earlier.output_versions.items()},
            took,
        )
        planner.decided[name] = StepDecision(
            name,
            Action.REUSE,
            f"it succeeded in run {carried_from}, which this run retries",
            dict(earlier.input_versions),
            origin,
        )
    for wave in _levels(dag, chosen):
        planner.wave(wave)
    decisions = [
        planner.decided.get(s.name) or StepDecision(s.name, Action.SKIP, unselected_reason)
        for s in steps
    ]
    to_run = {d.name for d in decisions if d.action is Action.RUN}
    problems = [
        Problem(
            ("steps", d.name, "config", "input_datasets"),
            f"dataset {inp!r} has no version yet and no selected step writes it",
            "run.missing_input",
        )
        for d in decisions
        if d.action is Action.RUN
        for inp, read in d.reads.items()
        if read is None
    ]
    return RunDecision(decisions, compile_plan(steps, to_run, dag), problems, planner.made)
