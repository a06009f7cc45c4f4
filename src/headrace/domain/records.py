"""Plain records of the metadata: what repositories return and services, executors and schemas
work with, free of SQLAlchemy rows (so every layer may import them)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from headrace.domain.fingerprint import Recipe
from headrace.domain.problems import Problem


@dataclass(frozen=True)
class ApiKeyRecord:
    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    role: str
    key_prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class PipelineRecord:
    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    description: str
    current_version_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    max_active_runs: int | None = None
    on_limit: str = "queue"


@dataclass(frozen=True)
class StepRecord:
    id: uuid.UUID
    name: str
    config: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True)
class VersionRecord:
    id: uuid.UUID
    pipeline_id: uuid.UUID
    number: int
    created_at: dt.datetime
    steps: list[StepRecord]
    parameters: list[dict[str, Any]] = field(default_factory=list)  # [{name, type, default?}]
    # {step: {dataset: [{name, type}]}}: the columns each step writes, inferred at save time
    output_schemas: dict[str, Any] = field(default_factory=dict)
    # What saving found but did not refuse (inputs that do not exist yet): set only on the
    # version as it was just written, never stored.
    warnings: list[Problem] = field(default_factory=list)
    # {step: recipe}: the recipes runs have made and kept with the version so far
    # (services/planning.py); a step without one has its recipe made when a run needs it.
    recipes: dict[str, Recipe] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStepRecord:
    name: str
    run_name: str
    status: str
    position: int
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    rows_written: int | None = None
    bytes_written: int | None = None
    input_versions: dict[str, Any] = field(default_factory=dict)
    output_versions: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    # Skipped because the result of this step of that run was reused (it took saved_seconds).
    reused_from_run_id: uuid.UUID | None = None
    reused_from_step: str | None = None
    saved_seconds: float | None = None


@dataclass(frozen=True)
class RunRecord:
    id: uuid.UUID
    org_id: uuid.UUID
    pipeline_id: uuid.UUID
    version_id: uuid.UUID
    name: str
    status: str
    start_job_name: str | None
    end_job_name: str | None
    retry_of: uuid.UUID | None
    argo_manifest: dict[str, Any]
    argo_metadata: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    steps: list[RunStepRecord]
    # What started the run: {type: manual|schedule|dataset|retry, schedule_id?,
    # scheduled_for?, dataset_versions?, parent_run_id?}.
    trigger: dict[str, Any] = field(default_factory=lambda: {"type": "manual"})
    parameters: dict[str, Any] = field(default_factory=dict)  # {name: JSON value}
    waiting_reason: str | None = None


@dataclass(frozen=True)
class RunHead:
    """What a listing learns of a run before deciding whether to read it in full."""

    id: uuid.UUID
    status: str


@dataclass(frozen=True)
class DatasetVersionRecord:
    version: int
    row_count: int
    bytes: int
    schema: list[dict[str, Any]]
    operation: str
    created_at: dt.datetime
    written_by_key_id: uuid.UUID | None
    run_id: uuid.UUID | None
    step_name: str | None


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset with its current version's figures (None before its first version)."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    current_version: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    current: DatasetVersionRecord | None = None


@dataclass(frozen=True)
class RunRef:
    """Who a run belongs to, without the run itself (a large run's manifest alone is most of
    a megabyte): what a step needs to find its inputs and what every event of the run names."""

    id: uuid.UUID
    org_id: uuid.UUID
    pipeline_id: uuid.UUID
    version_id: uuid.UUID

    @classmethod
    def of(cls, run: RunRecord) -> RunRef:
        return cls(run.id, run.org_id, run.pipeline_id, run.version_id)


class WrittenFigures(Protocol):
    """What the catalog records of a committed version (``storage.delta.WrittenVersion`` is
    one), so the catalog need not know the storage that wrote it."""

    @property
    def version(self) -> int: ...
    @property
    def row_count(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def schema(self) -> list[dict[str, str]]: ...


@dataclass(frozen=True)
class WebhookRecord:
    """A webhook of an organisation; ``secret`` is as stored (encrypted)."""

    id: uuid.UUID
    org_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    secret: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DeliveryRecord:
    """One message to one receiver and how sending it went so far."""

    id: uuid.UUID
    sink: str
    webhook_id: uuid.UUID | None
    event: str
    payload: str
    created_at: dt.datetime
    attempts: int
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    status_code: int | None
    error: str | None

    @classmethod
    def queued(
        cls,
        sink: str,
        event: str,
        payload: str,
        now: dt.datetime,
        webhook_id: uuid.UUID | None = None,
    ) -> DeliveryRecord:
        """A new message, due at once."""
        return cls(
            id=uuid.uuid4(),
            sink=sink,
            webhook_id=webhook_id,
            event=event,
            payload=payload,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
            delivered_at=None,
            status_code=None,
            error=None,
        )


@dataclass(frozen=True)
class ScheduleRecord:
    """A pipeline's cron schedule; ``next_fire_at`` is its next tick not yet handled (UTC;
    None while disabled)."""

    id: uuid.UUID
    org_id: uuid.UUID
    pipeline_id: uuid.UUID
    cron: str
    timezone: str
    enabled: bool
    start_job_name: str | None
    end_job_name: str | None
    parameters: dict[str, Any]
    catchup: str
    next_fire_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class TriggerRecord:
    """A pipeline's dataset trigger: ``consumed`` is the version of each listed dataset its
    last run was started for (or that was current when it was made); ``pending_since`` when
    its debounce window opened (None: no window open)."""

    id: uuid.UUID
    org_id: uuid.UUID
    pipeline_id: uuid.UUID
    datasets: list[str]
    mode: str
    debounce_seconds: float
    consumed: dict[str, int | None]
    pending_since: dt.datetime | None
    created_at: dt.datetime
