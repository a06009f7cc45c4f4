"""/pipelines/{id}/runs/: the seed endpoint and the rest of a run's life."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import PlainTextResponse, Response

from headrace.api import run_json
from headrace.api.created import location
from headrace.api.deps import Bell, Builder, Config, Db, Paging, Rt, Viewer
from headrace.api.openapi import errors
from headrace.api.routing import SlashRouter
from headrace.domain.runs import RunStatus
from headrace.schemas.common import ErrorItem
from headrace.schemas.runs import PlannedStep, ReusedFrom, RunCreate, RunPlanRead, RunRead
from headrace.services import runs

router = SlashRouter(tags=["runs"])


def _asked(body: RunCreate) -> dict[str, Any]:
    """What a run's body asks of ``runs.create`` and of ``runs.plan`` alike."""
    return {
        "start": body.start_job_name,
        "end": body.end_job_name,
        "version_id": body.version_id,
        "parameters": body.parameters,
        "use_cache": body.use_cache,
    }


@router.post("/pipelines/{pipeline_id}/runs/", status_code=201, response_model=RunRead)
def create_run(
    pipeline_id: uuid.UUID,
    body: RunCreate,
    who: Builder,
    db: Db,
    settings: Config,
    bell: Bell,
    request: Request,
) -> Response:
    """Start a run of the current (or given) version, whole or from/to named steps."""
    view = runs.create(db, settings, who, pipeline_id, **_asked(body))
    bell.ring()
    return _created(request, pipeline_id, view)


def _created(request: Request, pipeline_id: uuid.UUID, view: runs.RunView) -> Response:
    """201 with the new run, at its address in the runs collection (``Location`` set here, so
    the ``Created`` middleware need not parse the body for its id)."""
    where = location(request.scope, f"/pipelines/{pipeline_id}/runs/", view.run.id)
    return run_json.response(view, 201, {"Location": where})


@router.post("/pipelines/{pipeline_id}/runs/plan/", response_model=RunPlanRead)
def plan_run(
    pipeline_id: uuid.UUID, body: RunCreate, who: Viewer, db: Db, settings: Config
) -> RunPlanRead:
    """What ``POST …/runs/`` with this body would do now, creating nothing: each step's
    action (run, reuse, skip) and why, the version of each input it reads, the manifest."""
    found = runs.plan(db, settings, who, pipeline_id, **_asked(body))
    return RunPlanRead(
        version_id=found.version.id,
        version_number=found.version.number,
        steps=[
            PlannedStep(
                name=d.name,
                action=d.action.value,
                reason=d.reason,
                reads=d.reads,
                reused_from=(
                    ReusedFrom(run_id=d.reused_from.run_id, step_name=d.reused_from.step_name)
                    if d.reused_from is not None
                    else None
                ),
            )
            for d in found.decision.steps
        ],
        argo_manifest=found.argo_manifest,
        problems=[ErrorItem(loc=list(p.loc), msg=p.msg, type=p.type) for p in found.problems],
    )


@router.get("/pipelines/{pipeline_id}/runs/", response_model=list[RunRead])
def get_runs(
    pipeline_id: uuid.UUID,
    who: Viewer,
    rt: Rt,
    paging: Paging,
    version_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
) -> Response:
    """Runs of the pipeline, newest first; the next page is in the Link header."""
    found = runs.list_runs(
        rt.db,
        who,
        pipeline_id,
        version_id=version_id,
        statuses=status or [],
        after=paging.after,
        limit=paging.limit,
        keep=rt.ended_runs.get,
    )
    paging.link_after(len(found.heads), found.last)
    # The JSON is made here, not by FastAPI from models (see run_json); the response is the
    # one FastAPI would build: the body, then the headers the dependencies set.
    response = Response(run_json.page(found, rt.ended_runs), media_type="application/json")
    response.headers.raw.extend(paging.response.headers.raw)
    return response


@router.get("/pipelines/{pipeline_id}/runs/{run_id}/", response_model=RunRead)
def get_run(pipeline_id: uuid.UUID, run_id: uuid.UUID, who: Viewer, db: Db) -> Response:
    return run_json.response(runs.get(db, who, pipeline_id, run_id))


@router.post(
    "/pipelines/{pipeline_id}/runs/{run_id}/cancel/", response_model=RunRead, responses=errors(409)
)
def cancel_run(pipeline_id: uuid.UUID, run_id: uuid.UUID, who: Builder, db: Db) -> Response:
    """Stop a Pending or Running run; 409 once it has ended."""
    return run_json.response(runs.cancel(db, who, pipeline_id, run_id))


@router.post(
    "/pipelines/{pipeline_id}/runs/{run_id}/retry/",
    status_code=201,
    response_model=RunRead,
    responses=errors(409),
)
def retry_run(
    pipeline_id: uuid.UUID,
    run_id: uuid.UUID,
    who: Builder,
    db: Db,
    settings: Config,
    bell: Bell,
    request: Request,
) -> Response:
    """A new run that re-runs what did not succeed and reuses what did, at the exact versions."""
    view = runs.retry(db, settings, who, pipeline_id, run_id)
    bell.ring()
    return _created(request, pipeline_id, view)


@router.get(
    "/pipelines/{pipeline_id}/runs/{run_id}/steps/{step_name}/logs/",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
def step_logs(
    pipeline_id: uuid.UUID, run_id: uuid.UUID, step_name: str, who: Viewer, db: Db
) -> PlainTextResponse:
    """The step's log lines, kept with the run after its worker is gone."""
    lines = runs.step_logs(db, who, pipeline_id, run_id, step_name)
    return PlainTextResponse("".join(f"{line}\n" for line in lines))
