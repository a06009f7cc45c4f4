"""Runs: create (whole, partial or retry), read, list, cancel."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from headrace.domain.access import Principal
from headrace.domain.concurrency import held_back
from headrace.domain.dag import Dag
from headrace.domain.parameters import Parameter, resolve, typed
from headrace.domain.pipeline import Step, step_from_dict
from headrace.domain.problems import Loc, Problem
from headrace.domain.records import (
    PipelineRecord,
    RunHead,
    RunRecord,
    RunStepRecord,
    VersionRecord,
)
from headrace.domain.runs import RunStatus, StepStatus
from headrace.errors import Conflict, InvalidInput, NotFound
from headrace.execution.argo.manifest import ManifestSettings, RunIdentity, render_manifest
from headrace.execution.plan import ExecutionPlan, SelectionError, select, task_names
from headrace.execution.status import local_metadata
from headrace.persistence.db import Database, RecipeCache
from headrace.persistence.paging import Keyset
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import runs as repo
from headrace.services import planning, run_trace
from headrace.services.clock import utcnow
from headrace.services.lifecycle import Lifecycle
from headrace.services.pipelines import load as load_pipeline
from headrace.services.planning import RunDecision
from headrace.settings import Settings

# Steps of an earlier run that a retry runs again, with everything downstream of them.
RETRY_AGAIN = frozenset(
    {
        StepStatus.FAILED,
        StepStatus.ERROR,
        StepStatus.CANCELLED,
        StepStatus.OMITTED,
        StepStatus.PENDING,
        StepStatus.RUNNING,
    }
)


Kept = TypeVar("Kept")


@dataclass(frozen=True)
class RunView:
    run: RunRecord
    version: VersionRecord


def manifest_settings(settings: Settings) -> ManifestSettings:
    return ManifestSettings(
        namespace=settings.argo_namespace,
        image=settings.argo_image,
        service_account=settings.argo_service_account,
        env_secret=settings.argo_env_secret,
        cpu_request=settings.argo_cpu_request,
        memory_request=settings.argo_memory_request,
        memory_limit=settings.argo_memory_limit,
        retry_limit=settings.argo_retry_limit,
        active_deadline_seconds=settings.argo_active_deadline_seconds,
        pod_gc=settings.argo_pod_gc,
        scratch_size=settings.argo_scratch_size,
        ttl_seconds=settings.argo_workflow_ttl_seconds,
        run_as_user=settings.argo_run_as_user,
    )


def domain_steps(version: VersionRecord) -> list[Step]:
    return [step_from_dict(s.name, s.config) for s in version.steps]


_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def workflow_name(pipeline_name: str, run_id: uuid.UUID) -> str:
    """A DNS-1123 name unique to the run: a slug of the pipeline name and the run id."""
    slug = _NOT_DNS.sub("-", pipeline_name.lower()).strip("-")[:40].strip("-") or "run"
    return f"{slug}-{run_id.hex[:12]}"


def _refuse(problems: Sequence[Problem]) -> None:
    """A run is not made while any step of it would read a dataset that does not exist."""
    if problems:
        raise InvalidInput("the run would read datasets that do not exist", list(problems))


def _manifest(
    settings: Settings,
    pipeline: PipelineRecord,
    version: VersionRecord,
    plan: ExecutionPlan,
    run_id: uuid.UUID,
) -> tuple[RunIdentity, dict[str, Any], list[Problem]]:
    """The run's Argo manifest, and the problem when it is over the size limit."""
    identity = RunIdentity(
        workflow_name=workflow_name(pipeline.name, run_id),
        run_id=str(run_id),
        org_id=str(pipeline.org_id),
        pipeline_id=str(pipeline.id),
        version_id=str(version.id),
    )
    manifest = render_manifest(plan, identity, manifest_settings(settings))
    run_trace.annotate(manifest)
    size = len(json.dumps(manifest, separators=(",", ":")))
    problems = []
    if size > settings.manifest_max_bytes:
        problems.append(
            Problem(
                ("body",),
                f"the run's Argo manifest would be {size} bytes, over the limit of "
                f"{settings.manifest_max_bytes}; run part of the pipeline "
                "(start_job_name/end_job_name)",
                "run.manifest_too_large",
            )
        )
    return identity, manifest, problems


def _new_run(
    settings: Settings,
    pipeline: PipelineRecord,
    version: VersionRecord,
    decision: RunDecision,
    *,
    start: str | None,
    end: str | None,
    retry_of: uuid.UUID | None,
    trigger: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> RunRecord:
    _refuse(decision.problems)
    run_id = uuid.uuid4()
    identity, manifest, too_large = _manifest(
        settings, pipeline, version, decision.execution, run_id
    )
    if too_large:
        raise InvalidInput(too_large[0].msg, [replace(too_large[0], msg="manifest too large")])
    position = {s.name: i for i, s in enumerate(version.steps)}
    tasks = task_names(list(position))
    steps = [
        RunStepRecord(
            name=s.name,
            run_name=f"{identity.workflow_name}.{s.task_name}",
            status=StepStatus.PENDING.value,
            position=position[s.name],
        )
        for s in decision.execution.steps
    ]
    now = utcnow()
    steps += [
        RunStepRecord(
            name=d.name,
            run_name=f"{identity.workflow_name}.{tasks[d.name]}",
            status=StepStatus.SKIPPED.value,
            position=position[d.name],
            finished_at=now,
            input_versions={k: v for k, v in d.reads.items() if isinstance(v, int)},
            output_versions=d.reused_from.output_versions,
            reused_from_run_id=d.reused_from.run_id,
            reused_from_step=d.reused_from.step_name,
            saved_seconds=d.reused_from.seconds,
        )
        for d in decision.reused()
        if d.reused_from is not None
    ]
    steps.sort(key=lambda s: s.position)
    run = RunRecord(
        id=run_id,
        org_id=pipeline.org_id,
        pipeline_id=pipeline.id,
        version_id=version.id,
        name=identity.workflow_name,
        status=RunStatus.PENDING.value,
        start_job_name=start,
        end_job_name=end,
        retry_of=retry_of,
        argo_manifest=manifest,
        argo_metadata={},
        created_at=now,
        started_at=None,
        finished_at=None,
        steps=steps,
        trigger=trigger or {"type": "manual"},
        parameters=parameters or {},
    )
    return replace(run, argo_metadata=local_metadata(run))


def _version(
    conn: Connection,
    pipeline: PipelineRecord,
    version_id: uuid.UUID | None,
    kept: pipelines_repo.VersionCache,
) -> VersionRecord:
    wanted = version_id or pipeline.current_version_id
    found = pipelines_repo.version(conn, pipeline.id, wanted, kept) if wanted else None
    if found is None:
        raise InvalidInput(
            f"there is no version {version_id} of this pipeline",
            [
                Problem(
                    ("body", "version_id"),
                    "unknown version of this pipeline",
                    "run.unknown_version",
                )
            ],
        )
    return found


def run_parameters(
    version: VersionRecord, given: dict[str, Any], loc: Loc = ("body", "parameters")
) -> dict[str, Any]:
    """The run's parameter values (``given`` over the version's defaults); 422 listing every
    unknown, ill-typed or missing one."""
    declared = [Parameter.from_dict(p) for p in version.parameters]
    values, problems = resolve(declared, given, loc)
    if problems:
        raise InvalidInput(f"the run's parameters have {len(problems)} problem(s)", problems)
    return values


def _decide_new(
    conn: Connection,
    recipes: RecipeCache,
    pipeline: PipelineRecord,
    version: VersionRecord,
    *,
    start: str | None,
    end: str | None,
    parameters: dict[str, Any],
    trigger: dict[str, Any],
    use_cache: bool,
) -> RunDecision:
    """The decision behind a new run and behind its plan: the same call for both."""
    steps = domain_steps(version)
    try:
        dag = Dag.build(steps)
        selected = select(dag, start, end)
    except SelectionError as err:
        raise InvalidInput("the step selection is not valid", err.problems) from err
    return planning.decide(
        conn,
        pipeline.org_id,
        steps,
        dag,
        selected,
        version=version,
        recipes=recipes,
        use_cache=use_cache,
        parameters=_typed(version, parameters, trigger),
    )


def _typed(
    version: VersionRecord, values: dict[str, Any], trigger: dict[str, Any]
) -> dict[str, Any]:
    """The run's parameter values as its steps bind them (``StepStart.parameters``), which
    is how they enter a step's fingerprint when it ends."""
    declared = [Parameter.from_dict(p) for p in version.parameters]
    when = trigger.get("scheduled_for")
    return typed(declared, values, dt.datetime.fromisoformat(when) if when else None)


def _requested(
    conn: Connection,
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    version_id: uuid.UUID | None,
    parameters: dict[str, Any] | None,
) -> tuple[PipelineRecord, VersionRecord, dict[str, Any]]:
    """The pipeline, the version and the parameter values a request for a run (or its plan)
    names: 404 for another organisation's pipeline, 422 for a bad version or parameters."""
    pipeline = load_pipeline(conn, who, pipeline_id)
    version = _version(conn, pipeline, version_id, db.versions)
    return pipeline, version, run_parameters(version, parameters or {})


@dataclass(frozen=True)
class PlanView:
    """What a run would do, made by the code that makes the run, creating nothing."""

    version: VersionRecord
    decision: RunDecision
    argo_manifest: dict[str, Any]
    problems: list[Problem]


def plan(
    db: Database,
    settings: Settings,
    who: Principal,
    pipeline_id: uuid.UUID,
    *,
    start: str | None,
    end: str | None,
    version_id: uuid.UUID | None,
    parameters: dict[str, Any] | None = None,
    use_cache: bool = True,
) -> PlanView:
    """The plan of the run ``create`` would make now with the same arguments. Its manifest
    is rendered for a run id that no run has (the run made later gets its own)."""
    with db.unit_of_work(write=False) as conn:
        pipeline, version, values = _requested(conn, db, who, pipeline_id, version_id, parameters)
        decision = _decide_new(
            conn,
            db.recipes,
            pipeline,
            version,
            start=start,
            end=end,
            parameters=values,
            trigger={"type": "manual"},
            use_cache=use_cache,
        )
    _, manifest, too_large = _manifest(
        settings, pipeline, version, decision.execution, uuid.uuid4()
    )
    return PlanView(version, decision, manifest, [*decision.problems, *too_large])


def create(
    db: Database,
    settings: Settings,
    who: Principal,
    pipeline_id: uuid.UUID,
    *,
    start: str | None,
    end: str | None,
    version_id: uuid.UUID | None,
    parameters: dict[str, Any] | None = None,
    use_cache: bool = True,
) -> RunView:
    with db.unit_of_work() as conn:
        pipeline, version, values = _requested(conn, db, who, pipeline_id, version_id, parameters)
        run = start_run(
            conn,
            db,
            settings,
            pipeline,
            version,
            start=start,
            end=end,
            parameters=values,
            trigger={"type": "manual"},
            use_cache=use_cache,
        )
    return RunView(run=run, version=version)


def start_run(
    conn: Connection,
    db: Database,
    settings: Settings,
    pipeline: PipelineRecord,
    version: VersionRecord,
    *,
    start: str | None,
    end: str | None,
    parameters: dict[str, Any],
    trigger: dict[str, Any],
    use_cache: bool = True,
) -> RunRecord:
    """Insert a new Pending run of ``version`` in the caller's transaction: what a request,
    a schedule's tick and a dataset trigger all do. ``parameters`` are already resolved."""
    decision = _decide_new(
        conn,
        db.recipes,
        pipeline,
        version,
        start=start,
        end=end,
        parameters=parameters,
        trigger=trigger,
        use_cache=use_cache,
    )
    _keep_recipes(conn, db, version, decision)
    run = _new_run(
        settings,
        pipeline,
        version,
        decision,
        start=start,
        end=end,
        retry_of=None,
        trigger=trigger,
        parameters=parameters,
    )
    return _admit(conn, db, pipeline, run)


def _keep_recipes(
    conn: Connection, db: Database, version: VersionRecord, decision: planning.RunDecision
) -> None:
    if decision.recipes_made:
        pipelines_repo.keep_recipes(conn, version, decision.recipes_made, db.versions)


def _admit(conn: Connection, db: Database, pipeline: PipelineRecord, run: RunRecord) -> RunRecord:
    """Insert a new run as its pipeline's concurrency limit says: queued with its
    ``waiting_reason``, or ended Cancelled at once (``on_limit: skip``) with the reason in
    ``argo_metadata.message``, when the pipeline already has ``max_active_runs``."""
    waiting = _held_back(conn, pipeline)
    if waiting is not None and pipeline.on_limit == "queue":
        run = replace(run, waiting_reason=waiting)
    repo.add(conn, run)
    lifecycle = Lifecycle(db)
    lifecycle.created(conn, run)
    if waiting is not None and pipeline.on_limit == "skip":
        lifecycle.cancel(conn, run)
        repo.set_metadata(conn, run.id, {**run.argo_metadata, "message": f"skipped: {waiting}"})
        found = repo.get_by_id(conn, run.id)
        assert found is not None
        run = found
    return run


def _held_back(conn: Connection, pipeline: PipelineRecord) -> str | None:
    """Why a new run of the pipeline would wait (its ``max_active_runs`` reached), read
    under the pipeline's row lock so two new runs count each other; None if it need not."""
    if pipeline.max_active_runs is None:
        return None
    limit = pipelines_repo.max_active_runs(conn, pipeline.id, lock=True)
    return held_back(repo.active_count(conn, pipeline.id), limit)


def retry(
    db: Database, settings: Settings, who: Principal, pipeline_id: uuid.UUID, run_id: uuid.UUID
) -> RunView:
    """A new run of the same version: steps that did not succeed and their downstream run again
    (or are reused, when an earlier result matches); the steps that succeeded are Skipped and
    their outputs are read at the versions they wrote."""
    with db.unit_of_work() as conn:
        pipeline = load_pipeline(conn, who, pipeline_id)
        earlier = _load(conn, pipeline_id, run_id)
        if not RunStatus(earlier.status).terminal:
            raise Conflict(
                f"run {run_id} is still {earlier.status}; only an ended run can be retried"
            )
        if earlier.status == RunStatus.SUCCEEDED:
            raise Conflict(f"run {run_id} succeeded; there is nothing to retry")
        version = _version(conn, pipeline, earlier.version_id, db.versions)
        steps = domain_steps(version)
        dag = Dag.build(steps)
        again: set[str] = set()
        for step in earlier.steps:
            if StepStatus(step.status) in RETRY_AGAIN:
                again |= dag.descendants(step.name)
        in_run = {s.name for s in earlier.steps}
        again &= in_run
        carried = {
            s.name: s
            for s in earlier.steps
            if s.name not in again and s.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
        }
        decision = planning.decide(
            conn,
            pipeline.org_id,
            steps,
            dag,
            again,
            version=version,
            recipes=db.recipes,
            use_cache=True,
            parameters=_typed(version, earlier.parameters, earlier.trigger),
            carried=carried,
            carried_from=earlier.id,
            unselected_reason=f"not selected in run {earlier.id}",
        )
        _keep_recipes(conn, db, version, decision)
        run = _new_run(
            settings,
            pipeline,
            version,
            decision,
            start=earlier.start_job_name,
            end=earlier.end_job_name,
            retry_of=earlier.id,
            trigger=_retry_trigger(earlier),
            parameters=earlier.parameters,
        )
        run = _admit(conn, db, pipeline, run)
    return RunView(run=run, version=version)


def _retry_trigger(earlier: RunRecord) -> dict[str, Any]:
    """A retry names the run it retries, and keeps the tick a scheduled one was for."""
    trigger: dict[str, Any] = {"type": "retry", "parent_run_id": str(earlier.id)}
    if earlier.trigger.get("scheduled_for"):
        trigger["scheduled_for"] = earlier.trigger["scheduled_for"]
    return trigger


def _load(conn: Connection, pipeline_id: uuid.UUID, run_id: uuid.UUID) -> RunRecord:
    found = repo.get(conn, pipeline_id, run_id)
    if found is None:
        raise NotFound(f"there is no run {run_id} of this pipeline")
    return found


def get(db: Database, who: Principal, pipeline_id: uuid.UUID, run_id: uuid.UUID) -> RunView:
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        run = _load(conn, pipeline_id, run_id)
        version = pipelines_repo.versions_by_id(conn, [run.version_id], db.versions)[run.version_id]
    return RunView(run=run, version=version)


@dataclass(frozen=True)
class RunPage(Generic[Kept]):
    """A page of runs, newest first (``heads``): for each run, either what the caller already
    kept of it (``kept``) or the run read in full (``read``)."""

    heads: list[RunHead]
    kept: dict[uuid.UUID, Kept]
    read: dict[uuid.UUID, RunView]
    last: Keyset | None  # the position of the last run (where a next page starts)


def list_runs(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    *,
    version_id: uuid.UUID | None,
    statuses: Sequence[RunStatus],
    after: Keyset | None,
    limit: int,
    keep: Callable[[Sequence[RunHead]], dict[uuid.UUID, Kept]],
) -> RunPage[Kept]:
    """A page of runs in one transaction: the page's heads, then in full (with their versions)
    only the runs for which ``keep`` has nothing. A few queries whatever the page size."""
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        found_heads = repo.heads_for_pipeline(
            conn,
            pipeline_id,
            version_id=version_id,
            statuses=[s.value for s in statuses],
            after=after,
            limit=limit,
        )
        heads = found_heads.heads
        kept = keep(heads)
        found = repo.get_many(conn, [h.id for h in heads if h.id not in kept])
        versions = pipelines_repo.versions_by_id(conn, {r.version_id for r in found}, db.versions)
    read = {r.id: RunView(run=r, version=versions[r.version_id]) for r in found}
    return RunPage(heads=heads, kept=kept, read=read, last=found_heads.last)


def cancel(db: Database, who: Principal, pipeline_id: uuid.UUID, run_id: uuid.UUID) -> RunView:
    """A Pending run ends at once; a Running one is flagged and its worker interrupts it."""
    with db.unit_of_work() as conn:
        load_pipeline(conn, who, pipeline_id)
        run = _load(conn, pipeline_id, run_id)
        status = RunStatus(run.status)
        if status.terminal:
            raise Conflict(f"run {run_id} has already ended ({status}); it cannot be cancelled")
        Lifecycle(db).cancel(conn, run)
        run = _load(conn, pipeline_id, run_id)
        version = pipelines_repo.versions_by_id(conn, [run.version_id], db.versions)[run.version_id]
    return RunView(run=run, version=version)


def step_logs(
    db: Database, who: Principal, pipeline_id: uuid.UUID, run_id: uuid.UUID, step_name: str
) -> list[str]:
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        run = _load(conn, pipeline_id, run_id)
        if step_name not in {s.name for s in run.steps}:
            raise NotFound(f"run {run_id} has no step named {step_name!r}")
        return [f"{at.isoformat()} {line}" for at, line in repo.logs(conn, run_id, step_name)]
