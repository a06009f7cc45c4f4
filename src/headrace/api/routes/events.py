"""``GET /pipelines/{id}/runs/{run_id}/events/``: a run's status changes as Server-Sent Events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from headrace.api.deps import Config, Db, Viewer
from headrace.api.openapi import errors
from headrace.api.routing import SlashRouter
from headrace.api.streams import StreamSlots
from headrace.schemas.events import RunStatusPatch, StepPatch, StreamEnd
from headrace.schemas.pipelines import PipelineVersionRead
from headrace.schemas.runs import RunRead
from headrace.services import run_events
from headrace.services.run_events import Poll, RunWatch
from headrace.settings import Settings

router = SlashRouter(tags=["runs"])


def _event(name: str, body: BaseModel, event_id: str | None = None) -> str:
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id else "")
    return f"{head}data: {body.model_dump_json()}\n\n"


def _events(found: Poll) -> list[str]:
    out = []
    for change in found.changes:
        run = change.run
        body: BaseModel
        if change.whole:
            assert found.version is not None
            body = RunRead.of(run, PipelineVersionRead.of(found.version))
        elif change.step is None:
            body = RunStatusPatch.of(run)
        else:
            body = StepPatch.of(next(s for s in run.steps if s.name == change.step))
        out.append(_event("step" if change.step else "run", body, change.event_id))
    return out


async def _stream(watch: RunWatch, settings: Settings) -> AsyncIterator[str]:
    # Reconnect quickly: a resumed stream misses nothing.
    yield "retry: 1000\n\n"
    quiet = 0.0
    while True:
        found = await run_in_threadpool(watch.poll)
        for text in _events(found):
            quiet = 0.0
            yield text
        if watch.ended:
            yield _event("end", StreamEnd(status=watch.status))
            return
        await asyncio.sleep(settings.events_poll_seconds)
        quiet += settings.events_poll_seconds
        if quiet >= settings.events_keepalive_seconds:
            quiet = 0.0
            yield ": keepalive\n\n"


@router.get(
    "/pipelines/{pipeline_id}/runs/{run_id}/events/",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(429)},
)
async def run_events_stream(
    request: Request,
    pipeline_id: uuid.UUID,
    run_id: uuid.UUID,
    who: Viewer,
    db: Db,
    settings: Config,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """One event per run or step status change until the run ends: ``run`` (the run's status
    fields; the first event of a fresh stream is the whole run), ``step`` (one step in
    ``run_steps``), then ``end``. Each event's data patches the run object. Send the last
    ``id:`` back as ``Last-Event-ID`` (to any API process) to resume without gaps or
    repeats; an id that is not one this API sent is a 422."""
    watch = await run_in_threadpool(run_events.watch, db, who, pipeline_id, run_id, last_event_id)
    slots: StreamSlots = request.app.state.streams
    lease = slots.take(who.key_id)  # 429 past HEADRACE_MAX_STREAMS_PER_KEY
    return StreamingResponse(
        lease.hold(_stream(watch, settings)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(lease.end),
    )
