"""/pipelines/{id}/triggers/: a pipeline's dataset triggers."""

from __future__ import annotations

import uuid

from fastapi import Response

from headrace.api.deps import Builder, Db, Viewer
from headrace.api.routing import SlashRouter
from headrace.schemas.schedules import TriggerCreate, TriggerRead
from headrace.services import triggers
from headrace.services.triggers import TriggerFields

router = SlashRouter(tags=["triggers"])


@router.post("/pipelines/{pipeline_id}/triggers/", status_code=201, response_model=TriggerRead)
def create_trigger(
    pipeline_id: uuid.UUID, body: TriggerCreate, who: Builder, db: Db, response: Response
) -> TriggerRead:
    """New versions of the listed datasets start one run per debounce window; 422 lists
    every problem, and names the loop a trigger would close."""
    made = triggers.create(db, who, pipeline_id, TriggerFields(**body.model_dump()))
    response.headers["Location"] = f"/pipelines/{pipeline_id}/triggers/{made.id}/"
    return TriggerRead.of(made)


@router.get("/pipelines/{pipeline_id}/triggers/", response_model=list[TriggerRead])
def list_triggers(pipeline_id: uuid.UUID, who: Viewer, db: Db) -> list[TriggerRead]:
    return [TriggerRead.of(t) for t in triggers.list_for_pipeline(db, who, pipeline_id)]


@router.delete(
    "/pipelines/{pipeline_id}/triggers/{trigger_id}/", status_code=204, response_class=Response
)
def delete_trigger(pipeline_id: uuid.UUID, trigger_id: uuid.UUID, who: Builder, db: Db) -> Response:
    triggers.delete(db, who, pipeline_id, trigger_id)
    return Response(status_code=204)
