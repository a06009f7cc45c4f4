"""The payloads of a run's event stream: each is a patch of the run object (``RunRead``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from headrace.domain.records import RunRecord, RunStepRecord
from headrace.schemas.runs import RunStepMetadata


class RunStatusPatch(BaseModel):
    """``event: run``: the run's status changed, with the fields that change along with it."""

    status: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    argo_metadata: dict[str, Any]

    @classmethod
    def of(cls, run: RunRecord) -> RunStatusPatch:
        return cls(
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            argo_metadata=run.argo_metadata,
        )


class StepPatch(BaseModel):
    """``event: step``: one step's status changed; the step as ``run_steps`` shows it."""

    run_steps: list[RunStepMetadata]

    @classmethod
    def of(cls, step: RunStepRecord) -> StepPatch:
        return cls(run_steps=[RunStepMetadata.of(step)])


class StreamEnd(BaseModel):
    """``event: end``: the run has ended (``status`` None: it was deleted); the stream closes."""

    status: str | None
