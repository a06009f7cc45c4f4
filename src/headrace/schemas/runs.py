"""Runs as the seed contract shows them (extra fields allowed, none renamed or missing)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from headrace.domain.records import RunRecord, RunStepRecord
from headrace.schemas.common import ErrorItem, Strict
from headrace.schemas.pipelines import PipelineVersionRead


class RunCreate(Strict):
    start_job_name: str | None = None
    end_job_name: str | None = None
    version_id: uuid.UUID | None = None
    # {name: value} for the version's declared parameters (JSON; dates and timestamps as
    # ISO 8601 text); checked against their types, every problem listed at once.
    parameters: dict[str, Any] = Field(default_factory=dict)
    # False: run every selected step, even one an earlier run computed from the same inputs.
    use_cache: bool = True


class ReusedFrom(BaseModel):
    """The earlier run's step whose result a Skipped step reused."""

    run_id: uuid.UUID
    step_name: str


class CheckResultRead(BaseModel):
    """One check's result on a run step: ``status`` passed, failed (blocked the commit),
    warned or error (its SQL failed, ``error`` says why); ``sample``: up to 20 violating
    rows."""

    name: str
    type: str
    dataset: str
    severity: str
    status: str
    violations: int
    sample: list[dict[str, Any]] = []
    error: str | None = None


class RunStepMetadata(BaseModel):
    name: str
    run_name: str
    status: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    rows_written: int | None = None
    bytes_written: int | None = None
    input_versions: dict[str, Any] = {}
    output_versions: dict[str, Any] = {}
    error: str | None = None
    checks: list[CheckResultRead] = []
    reused_from: ReusedFrom | None = None
    saved_seconds: float | None = None

    @classmethod
    def of(cls, step: RunStepRecord) -> RunStepMetadata:
        return cls(
            name=step.name,
            run_name=step.run_name,
            status=step.status,
            started_at=step.started_at,
            finished_at=step.finished_at,
            rows_written=step.rows_written,
            bytes_written=step.bytes_written,
            input_versions=step.input_versions,
            output_versions=step.output_versions,
            error=step.error,
            checks=[CheckResultRead.model_validate(c) for c in step.checks],
            reused_from=(
                ReusedFrom(run_id=step.reused_from_run_id, step_name=step.reused_from_step)
                if step.reused_from_run_id is not None and step.reused_from_step is not None
                else None
            ),
            saved_seconds=step.saved_seconds,
        )


class RunRead(BaseModel):
    id: uuid.UUID
    pipeline_config_version_id: uuid.UUID
    name: str
    status: str
    argo_manifest: dict[str, Any]
    argo_metadata: dict[str, Any]
    pipeline_version: PipelineVersionRead
    created_at: dt.datetime
    finished_at: dt.datetime | None
    run_steps: list[RunStepMetadata]
    pipeline_id: uuid.UUID
    started_at: dt.datetime | None
    start_job_name: str | None
    end_job_name: str | None
    retry_of: uuid.UUID | None
    trigger: dict[str, Any] = {"type": "manual"}
    parameters: dict[str, Any] = {}
    waiting_reason: str | None = None

    @classmethod
    def of(cls, run: RunRecord, version: PipelineVersionRead) -> RunRead:
        return cls(
            id=run.id,
            pipeline_config_version_id=run.version_id,
            name=run.name,
            status=run.status,
            argo_manifest=run.argo_manifest,
            argo_metadata=run.argo_metadata,
            pipeline_version=version,
            created_at=run.created_at,
            finished_at=run.finished_at,
            run_steps=[RunStepMetadata.of(s) for s in run.steps],
            pipeline_id=run.pipeline_id,
            started_at=run.started_at,
            start_job_name=run.start_job_name,
            end_job_name=run.end_job_name,
            retry_of=run.retry_of,
            trigger=run.trigger,
            parameters=run.parameters,
            waiting_reason=run.waiting_reason,
        )


class PlannedStep(BaseModel):
    """What a run would do with one step: ``reads`` gives each input's version, or
    ``"step NAME"`` for an output of a step of the run that runs first."""

    name: str
    action: Literal["run", "reuse", "skip"]
    reason: str
    reads: dict[str, int | str | None]
    reused_from: ReusedFrom | None = None


class RunPlanRead(BaseModel):
    """A plan: what ``POST …/runs/`` with the same body would do now. ``problems`` are what
    would make that request a 422; the plan is given all the same."""

    version_id: uuid.UUID
    version_number: int
    steps: list[PlannedStep]
    argo_manifest: dict[str, Any]
    problems: list[ErrorItem]
