"""Schedules and dataset triggers as the API takes and shows them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from headrace.domain.records import ScheduleRecord
from headrace.domain.schedules import CATCHUP
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
