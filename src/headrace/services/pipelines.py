"""Pipelines and their immutable versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from headrace.domain.access import Principal
from headrace.domain.concurrency import check_limits
from headrace.domain.names import MAX_DESCRIPTION_LENGTH, check_label, check_text
from headrace.domain.parameters import Parameter
from headrace.domain.pipeline import Step
from headrace.domain.problems import Problem
from headrace.domain.records import PipelineRecord, VersionRecord
from headrace.domain.validation import validate_steps
from headrace.errors import Conflict, InvalidInput, NotFound
from headrace.execution.binding import Binding
from headrace.persistence.db import Database
from headrace.persistence.paging import Keyset
from headrace.persistence.repositories import pipelines as repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.repositories import schedules as schedules_repo
from headrace.persistence.repositories import triggers as triggers_repo
from headrace.services.binding import SaveBinder
from headrace.services.clock import utcnow
from headrace.services.trigger_loops import loop_problems


@dataclass(frozen=True)
class PipelineView:
    pipeline: PipelineRecord
    current_version: VersionRecord | None


def check_steps(steps: Sequence[Step], parameters: Sequence[Parameter] = ()) -> None:
    """Raise 422 with every problem of ``steps`` and ``parameters``."""
    problems = validate_steps(steps, parameters)
    if problems:
        raise InvalidInput(f"the pipeline has {len(problems)} problem(s)", problems)


def _check_pipeline_name(name: str) -> list[Problem]:
    return check_label(name, ("body", "name"), "the pipeline name")


def _check_description(description: str) -> list[Problem]:
    return check_text(
        description, ("body", "description"), "the description", MAX_DESCRIPTION_LENGTH
    )


def load(
    conn: Connection, who: Principal, pipeline_id: uuid.UUID, *, lock: bool = False
) -> PipelineRecord:
    found = repo.get(conn, who.org_id, pipeline_id, lock=lock)
    if found is None:
        raise NotFound(f"there is no pipeline {pipeline_id}")
    return found


def _view(conn: Connection, pipeline: PipelineRecord, kept: repo.VersionCache) -> PipelineView:
    current = None
    if pipeline.current_version_id is not None:
        current = repo.versions_by_id(conn, [pipeline.current_version_id], kept).get(
            pipeline.current_version_id
        )
    return PipelineView(pipeline=pipeline, current_version=current)


def _bound(
    binder: SaveBinder | None,
    who: Principal,
    steps: Sequence[Step],
    parameters: Sequence[Parameter],
    problems: list[Problem],
) -> Binding:
    """Refuse ``problems`` and, once there are none, every problem binding finds (none is
    bound without a binder: ``headrace run`` checks its SQL as it runs)."""
    if problems:
        raise InvalidInput(f"the pipeline has {len(problems)} problem(s)", problems)
    if binder is None:
        return Binding()
    bound = binder.bind(who.org_id, steps, parameters)
    if bound.problems:
        raise InvalidInput(f"the pipeline has {len(bound.problems)} problem(s)", bound.problems)
    return bound


def checked_schemas(
    binder: SaveBinder, who: Principal, steps: Sequence[Step], parameters: Sequence[Parameter]
) -> dict[str, Any]:
    """The ``output_schemas`` ``steps`` would be saved with; 422 as saving them would."""
    bound = _bound(binder, who, steps, parameters, validate_steps(steps, parameters))
    return _schemas(bound) or {}


def _schemas(bound: Binding) -> dict[str, Any] | None:
    """``output_schemas`` as stored: {step: {dataset: [{name, type}]}}."""
    if not bound.output_schemas:
        return None
    return {
        step: {d: [{"name": c, "type": t} for c, t in cols] for d, cols in outputs.items()}
        for step, outputs in bound.output_schemas.items()
    }


def create(
    db: Database,
    who: Principal,
    name: str,
    description: str,
    steps: Sequence[Step],
    parameters: Sequence[Parameter] = (),
    binder: SaveBinder | None = None,
) -> PipelineView:
    problems = (
        _check_pipeline_name(name)
        + _check_description(description)
        + validate_steps(steps, parameters)
    )
    bound = _bound(binder, who, steps, parameters, problems)
    pipeline_id = uuid.uuid4()
    now = utcnow()
    try:
        with db.unit_of_work() as conn:
            if repo.by_name(conn, who.org_id, name) is not None:
                raise Conflict(f"a pipeline named {name!r} exists already")
            repo.add(
                conn,
                pipeline_id=pipeline_id,
                org_id=who.org_id,
                name=name,
                description=description,
                now=now,
            )
            version = repo.add_version(
                conn,
                pipeline_id=pipeline_id,
                steps=steps,
                now=now,
                parameters=parameters,
                output_schemas=_schemas(bound),
            )
            version = replace(version, warnings=bound.warnings)
            return PipelineView(pipeline=load(conn, who, pipeline_id), current_version=version)
    except IntegrityError as err:  # a concurrent create of the same name won the race
        raise Conflict(f"a pipeline named {name!r} exists already") from err


def get(db: Database, who: Principal, pipeline_id: uuid.UUID) -> PipelineView:
    with db.unit_of_work(write=False) as conn:
        return _view(conn, load(conn, who, pipeline_id), db.versions)


def find(db: Database, who: Principal, name_or_id: str) -> PipelineView:
    """A pipeline by id or by name (for the CLI and the UI)."""
    with db.unit_of_work(write=False) as conn:
        try:
            return _view(conn, load(conn, who, uuid.UUID(name_or_id)), db.versions)
        except (ValueError, NotFound):
            found = repo.by_name(conn, who.org_id, name_or_id)
            if found is None:
                raise NotFound(f"there is no pipeline {name_or_id!r}") from None
            return _view(conn, found, db.versions)


def list_all(db: Database, who: Principal, after: Keyset | None, limit: int) -> list[PipelineView]:
    with db.unit_of_work(write=False) as conn:
        found = repo.list_for_org(conn, who.org_id, after=after, limit=limit)
        versions = repo.versions_by_id(
            conn, [p.current_version_id for p in found if p.current_version_id], db.versions
        )
    return [
        PipelineView(p, versions.get(p.current_version_id) if p.current_version_id else None)
        for p in found
    ]


def update(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    *,
    name: str | None,
    description: str | None,
    limits: dict[str, Any] | None = None,
) -> PipelineView:
    """Rename, describe, or set the concurrency limits (``max_active_runs``, ``on_limit``)."""
    values: dict[str, Any] = dict(limits or {})
    problems = _check_pipeline_name(name) if name is not None else []
    problems += _check_description(description) if description is not None else []
    problems += check_limits(values, ("body",))
    if problems:
        raise InvalidInput(problems[0].msg, problems)
    if name is not None:
        values["name"] = name
    if description is not None:
        values["description"] = description
    try:
        with db.unit_of_work() as conn:
            current = load(conn, who, pipeline_id, lock=True)
            if name is not None and name != current.name and repo.by_name(conn, who.org_id, name):
                raise Conflict(f"a pipeline named {name!r} exists already")
            if values:
                repo.update_fields(conn, pipeline_id, utcnow(), **values)
            return _view(conn, load(conn, who, pipeline_id), db.versions)
    except IntegrityError as err:
        raise Conflict(f"a pipeline named {name!r} exists already") from err


def delete(db: Database, who: Principal, pipeline_id: uuid.UUID) -> None:
    with db.unit_of_work() as conn:
        load(conn, who, pipeline_id, lock=True)
        if runs_repo.has_active(conn, pipeline_id):
            raise Conflict(
                "the pipeline has a run that is still Pending or Running; cancel it first"
            )
        runs_repo.remove_for_pipeline(conn, pipeline_id)
        schedules_repo.remove_for_pipeline(conn, pipeline_id)
        triggers_repo.remove_for_pipeline(conn, pipeline_id)
        repo.remove(conn, pipeline_id)


def add_version(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    steps: Sequence[Step],
    parameters: Sequence[Parameter] = (),
    binder: SaveBinder | None = None,
) -> VersionRecord:
    bound = _bound(binder, who, steps, parameters, validate_steps(steps, parameters))
    with db.unit_of_work() as conn:
        pipeline = load(conn, who, pipeline_id, lock=True)
        outputs = {d for s in steps for d in s.config.output_datasets}
        problems = loop_problems(conn, pipeline, ("steps",), writes=outputs)
        if problems:
            raise InvalidInput(problems[0].msg, problems)
        version = repo.add_version(
            conn,
            pipeline_id=pipeline_id,
            steps=steps,
            now=utcnow(),
            parameters=parameters,
            output_schemas=_schemas(bound),
        )
    return replace(version, warnings=bound.warnings)


def list_versions(
    db: Database, who: Principal, pipeline_id: uuid.UUID, after: Keyset | None, limit: int
) -> list[VersionRecord]:
    with db.unit_of_work(write=False) as conn:
        load(conn, who, pipeline_id)
        return repo.list_versions(conn, pipeline_id, after=after, limit=limit, kept=db.versions)


def get_version(
    db: Database, who: Principal, pipeline_id: uuid.UUID, version_id: uuid.UUID
) -> VersionRecord:
    with db.unit_of_work(write=False) as conn:
        load(conn, who, pipeline_id)
        found = repo.version(conn, pipeline_id, version_id, db.versions)
    if found is None:
        raise NotFound(f"there is no version {version_id} of this pipeline")
    return found
