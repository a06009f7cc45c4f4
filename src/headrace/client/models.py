"""The models the client returns: the API's own response schemas, plus the events of a run's
stream, which only the client parses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from headrace.schemas.datasets import DatasetDetailRead, DatasetRead, DatasetVersionRead
from headrace.schemas.keys import ApiKeyCreated, ApiKeyRead
from headrace.schemas.pipelines import (
    PipelineRead,
    PipelineVersionRead,
    StepDiff,
    StepIn,
    StepRead,
    VersionDiff,
)
from headrace.schemas.runs import PlannedStep, ReusedFrom, RunPlanRead, RunRead, RunStepMetadata
from headrace.schemas.schedules import ScheduleRead, TriggerRead
from headrace.schemas.webhooks import DeliveryRead, WebhookCreated, WebhookRead

__all__ = [
    "ApiKeyCreated",
    "ApiKeyRead",
    "DatasetDetailRead",
    "DatasetRead",
    "DatasetVersionRead",
    "DeliveryRead",
    "PipelineRead",
    "PipelineVersionRead",
    "PlannedStep",
    "ReusedFrom",
    "RunEvent",
    "RunPlanRead",
    "RunRead",
    "RunStepMetadata",
    "ScheduleRead",
    "StepDiff",
    "StepIn",
    "StepRead",
    "TriggerRead",
    "VersionDiff",
    "WebhookCreated",
    "WebhookRead",
]


class RunEvent(BaseModel):
    """One event of ``GET …/runs/{run_id}/events/``: ``run`` (the run's status fields, or the
    whole run as the first event of a stream), ``step`` (one step in ``run_steps``) or ``end``.
    ``data`` is a patch of the run object (``headrace.client.sse.apply`` applies it)."""

    event: str
    id: str | None
    data: dict[str, Any]
