"""Schedules and dataset triggers as the API takes and shows them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from headrace.domain.records import ScheduleRecord, TriggerRecord
from headrace.domain.schedules import CATCHUP
from headrace.domain.triggers import MODES
from headrace.schemas.common import Strict


class ScheduleCreate(Strict):
    """A cron schedule of the pipeline's current version. Any string for ``catchup`` and
    ``timezone`` here: a bad one is listed with the schedule's other problems."""

    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    start_job_name: str | None = None
    end_job_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    catchup: str = Field("latest", json_schema_extra={"enum": list(CATCHUP)})


class ScheduleUpdate(Strict):
    """The fields to change; the others stay as they are."""

    cron: str | None = None
    timezone: str | None = None
    enabled: bool | None = None
    start_job_name: str | None = None
    end_job_name: str | None = None
    parameters: dict[str, Any] | None = None
    catchup: str | None = Field(None, json_schema_extra={"enum": list(CATCHUP)})

    def changes(self) -> dict[str, Any]:
        """What was sent; ``start_job_name``/``end_job_name`` may be sent as null to clear."""
        found = self.model_dump(exclude_unset=True)
        nullable = {"start_job_name", "end_job_name", "parameters"}
        return {k: v for k, v in found.items() if v is not None or k in nullable}


class ScheduleRead(BaseModel):
    id: uuid.UUID
    pipeline_id: uuid.UUID
    cron: str
    timezone: str
    enabled: bool
    start_job_name: str | None
    end_job_name: str | None
    parameters: dict[str, Any]
    catchup: str
    next_fire_times: list[dt.datetime]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, schedule: ScheduleRecord, upcoming: list[dt.datetime]) -> ScheduleRead:
        """``next_fire_times`` are shown in the schedule's own zone (ISO 8601 with offset)."""
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(schedule.timezone)
        return cls(
            id=schedule.id,
            pipeline_id=schedule.pipeline_id,
            cron=schedule.cron,
            timezone=schedule.timezone,
            enabled=schedule.enabled,
            start_job_name=schedule.start_job_name,
            end_job_name=schedule.end_job_name,
            parameters=schedule.parameters,
            catchup=schedule.catchup,
            next_fire_times=[t.astimezone(zone) for t in upcoming],
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        )


class TriggerCreate(Strict):
    """Start a run of the pipeline's current version when listed datasets get new versions.
    Any string for ``mode`` here: a bad one is listed with the trigger's other problems."""

    datasets: list[str]
    mode: str = Field("any", json_schema_extra={"enum": list(MODES)})
    debounce_seconds: float = 10.0


class TriggerRead(BaseModel):
    id: uuid.UUID
    pipeline_id: uuid.UUID
    datasets: list[str]
    mode: str
    debounce_seconds: float
    consumed: dict[str, int | None]  # the version of each dataset its last run was for
    pending_since: dt.datetime | None  # when its open debounce window opened
    created_at: dt.datetime

    @classmethod
    def of(cls, trigger: TriggerRecord) -> TriggerRead:
        return cls(
            id=trigger.id,
            pipeline_id=trigger.pipeline_id,
            datasets=trigger.datasets,
            mode=trigger.mode,
            debounce_seconds=trigger.debounce_seconds,
            consumed=trigger.consumed,
            pending_since=trigger.pending_since,
            created_at=trigger.created_at,
        )
