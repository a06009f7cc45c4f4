"""The models the client returns: the API's own response schemas, plus the few shapes that
only the client has (a run's stream events; datasets until the API publishes their schemas)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from headrace.api.schemas.keys import ApiKeyCreated, ApiKeyRead
from headrace.api.schemas.pipelines import PipelineRead, PipelineVersionRead, StepIn, StepRead
from headrace.api.schemas.runs import RunRead, RunStepMetadata

__all__ = [
    "ApiKeyCreated",
    "ApiKeyRead",
    "DatasetRead",
    "DatasetVersion",
    "PipelineRead",
    "PipelineVersionRead",
    "RunEvent",
    "RunRead",
    "RunStepMetadata",
    "StepIn",
    "StepRead",
]


class _Open(BaseModel):
    """Keeps fields it does not know, so a newer server loses nothing."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class DatasetVersion(_Open):
    version: int
    row_count: int | None = None
    created_at: dt.datetime | None = None
    operation: str | None = None
    run_id: uuid.UUID | None = None
    step_name: str | None = None


class DatasetRead(_Open):
    id: uuid.UUID
    name: str
    current_version: int | None = None
    row_count: int | None = None
    data_schema: Any = Field(None, alias="schema")
    updated_at: dt.datetime | None = None
    versions: list[DatasetVersion] = Field(default_factory=list)


class RunEvent(BaseModel):
    """One event of ``GET …/runs/{run_id}/events/``: ``run`` (the run's status fields, or the
    whole run as the first event of a stream), ``step`` (one step in ``run_steps``) or ``end``.
    ``data`` is a patch of the run object (``headrace.client.sse.apply`` applies it)."""

    event: str
    id: str | None
    data: dict[str, Any]
