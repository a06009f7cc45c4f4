"""/pipelines/ and their versions."""

from __future__ import annotations

import uuid

from fastapi import Response

from headrace.api.deps import Builder, Db, Paging, Rt, Viewer
from headrace.api.openapi import errors
from headrace.api.routing import SlashRouter
from headrace.schemas.pipelines import (
    LineageEdge,
    PipelineCreate,
    PipelineRead,
    PipelineUpdate,
    PipelineVersionRead,
    StepDiff,
    VersionCreate,
    VersionDiff,
    domain_parameters,
)
from headrace.services import column_lineage, pipelines, version_diff
from headrace.services.binding import SaveBinder

router = SlashRouter(tags=["pipelines"])


@router.post("/pipelines/", status_code=201, response_model=PipelineRead, responses=errors(409))
def create_pipeline(body: PipelineCreate, who: Builder, db: Db, rt: Rt) -> PipelineRead:
    """A pipeline with its first version; 422 lists every problem of the steps, their SQL
    bound against the schemas it reads (unknown columns with the closest names)."""
    view = pipelines.create(
        db,
        who,
        body.name,
        body.description,
        [s.to_domain() for s in body.steps],
        domain_parameters(body.parameters),
        SaveBinder(rt),
    )
    return PipelineRead.of(view.pipeline, view.current_version)


@router.get("/pipelines/", response_model=list[PipelineRead])
def list_pipelines(who: Viewer, db: Db, paging: Paging) -> list[PipelineRead]:
    found = pipelines.list_all(db, who, paging.after, paging.limit)
    paging.link_next(found, lambda v: (v.pipeline.created_at, v.pipeline.id))
    return [PipelineRead.of(v.pipeline, v.current_version) for v in found]


@router.get("/pipelines/{pipeline_id}/", response_model=PipelineRead)
def get_pipeline(pipeline_id: uuid.UUID, who: Viewer, db: Db) -> PipelineRead:
    view = pipelines.get(db, who, pipeline_id)
    return PipelineRead.of(view.pipeline, view.current_version)


@router.patch("/pipelines/{pipeline_id}/", response_model=PipelineRead, responses=errors(409))
def update_pipeline(
    pipeline_id: uuid.UUID, body: PipelineUpdate, who: Builder, db: Db
) -> PipelineRead:
    view = pipelines.update(
        db, who, pipeline_id, name=body.name, description=body.description, limits=body.limits()
    )
    return PipelineRead.of(view.pipeline, view.current_version)


@router.delete(
    "/pipelines/{pipeline_id}/",
    status_code=204,
    response_class=Response,
    responses=errors(409),
)
def delete_pipeline(pipeline_id: uuid.UUID, who: Builder, db: Db) -> Response:
    """Delete with its versions and runs; 409 while a run is Pending or Running."""
    pipelines.delete(db, who, pipeline_id)
    return Response(status_code=204)


@router.post(
    "/pipelines/{pipeline_id}/versions/", status_code=201, response_model=PipelineVersionRead
)
def create_version(
    pipeline_id: uuid.UUID, body: VersionCreate, who: Builder, db: Db, rt: Rt
) -> PipelineVersionRead:
    """A new immutable version, which becomes the pipeline's current one; its SQL is bound
    against the schemas it reads, as on creation."""
    version = pipelines.add_version(
        db,
        who,
        pipeline_id,
        [s.to_domain() for s in body.steps],
        domain_parameters(body.parameters),
        SaveBinder(rt),
    )
    return PipelineVersionRead.of(version)


@router.get("/pipelines/{pipeline_id}/versions/", response_model=list[PipelineVersionRead])
def list_versions(
    pipeline_id: uuid.UUID, who: Viewer, db: Db, paging: Paging
) -> list[PipelineVersionRead]:
    """Versions, newest first."""
    found = pipelines.list_versions(db, who, pipeline_id, paging.after, paging.limit)
    paging.link_next(found, lambda v: (v.created_at, v.id))
    return [PipelineVersionRead.of(v) for v in found]


@router.get("/pipelines/{pipeline_id}/versions/{version_id}/", response_model=PipelineVersionRead)
def get_version(
    pipeline_id: uuid.UUID, version_id: uuid.UUID, who: Viewer, db: Db
) -> PipelineVersionRead:
    return PipelineVersionRead.of(pipelines.get_version(db, who, pipeline_id, version_id))


@router.get(
    "/pipelines/{pipeline_id}/versions/{version_id}/lineage/", response_model=list[LineageEdge]
)
def get_lineage(
    pipeline_id: uuid.UUID, version_id: uuid.UUID, who: Viewer, rt: Rt
) -> list[LineageEdge]:
    """Column lineage: for every output column of every step, the input columns it comes
    from (``[{from: {dataset, column}, to: {dataset, column}, step}]``), computed with
    sqlglot over the columns the version was saved with."""
    edges = column_lineage.of_version(rt, who, pipeline_id, version_id)
    return [LineageEdge.model_validate(e) for e in edges]


@router.get("/pipelines/{pipeline_id}/versions/{version_id}/diff/", response_model=VersionDiff)
def get_diff(
    pipeline_id: uuid.UUID, version_id: uuid.UUID, against: uuid.UUID, who: Viewer, rt: Rt
) -> VersionDiff:
    """The version against another of the pipeline, step by step; a change is breaking when
    an output column is removed, renamed or retyped, and its reasons name the known readers
    (steps of any pipeline's current version that read the column)."""
    steps = version_diff.diff(rt, who, pipeline_id, version_id, against)
    return VersionDiff(steps=[StepDiff.model_validate(s) for s in steps])


@router.post("/pipelines/{pipeline_id}/versions/diff/", response_model=VersionDiff)
def diff_proposed(pipeline_id: uuid.UUID, body: VersionCreate, who: Viewer, rt: Rt) -> VersionDiff:
    """The diff of a version not saved (the body of ``POST …/versions/``) against the current
    one, with its breaking flags; creates nothing (422 as saving it would)."""
    steps = version_diff.proposed(
        rt,
        who,
        pipeline_id,
        [s.to_domain() for s in body.steps],
        domain_parameters(body.parameters),
    )
    return VersionDiff(steps=[StepDiff.model_validate(s) for s in steps])
