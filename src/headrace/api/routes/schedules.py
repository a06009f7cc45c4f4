"""/pipelines/{id}/schedules/: a pipeline's cron schedules."""

from __future__ import annotations

import uuid

from fastapi import Response

from headrace.api.deps import Builder, Db, Viewer
from headrace.api.routing import SlashRouter
from headrace.schemas.schedules import ScheduleCreate, ScheduleRead, ScheduleUpdate
from headrace.services import schedules
from headrace.services.schedules import ScheduleFields

router = SlashRouter(tags=["schedules"])


@router.post("/pipelines/{pipeline_id}/schedules/", status_code=201, response_model=ScheduleRead)
def create_schedule(
    pipeline_id: uuid.UUID, body: ScheduleCreate, who: Builder, db: Db, response: Response
) -> ScheduleRead:
    """A schedule: each tick of ``cron`` in ``timezone`` starts one run of the current
    version; 422 lists every problem (cron, zone, catch-up, steps, parameters)."""
    view = schedules.create(db, who, pipeline_id, ScheduleFields(**body.model_dump()))
    response.headers["Location"] = f"/pipelines/{pipeline_id}/schedules/{view.schedule.id}/"
    return ScheduleRead.of(view.schedule, view.next_fire_times)


@router.get("/pipelines/{pipeline_id}/schedules/", response_model=list[ScheduleRead])
def list_schedules(pipeline_id: uuid.UUID, who: Viewer, db: Db) -> list[ScheduleRead]:
    return [
        ScheduleRead.of(v.schedule, v.next_fire_times)
        for v in schedules.list_for_pipeline(db, who, pipeline_id)
    ]


@router.patch("/pipelines/{pipeline_id}/schedules/{schedule_id}/", response_model=ScheduleRead)
def update_schedule(
    pipeline_id: uuid.UUID, schedule_id: uuid.UUID, body: ScheduleUpdate, who: Builder, db: Db
) -> ScheduleRead:
    view = schedules.update(db, who, pipeline_id, schedule_id, body.changes())
    return ScheduleRead.of(view.schedule, view.next_fire_times)


@router.delete(
    "/pipelines/{pipeline_id}/schedules/{schedule_id}/", status_code=204, response_class=Response
)
def delete_schedule(
    pipeline_id: uuid.UUID, schedule_id: uuid.UUID, who: Builder, db: Db
) -> Response:
    schedules.delete(db, who, pipeline_id, schedule_id)
    return Response(status_code=204)
