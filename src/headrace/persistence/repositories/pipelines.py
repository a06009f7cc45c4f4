"""Pipelines, their immutable versions and the steps of each version."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from headrace.caching import Cache
from headrace.domain.fingerprint import Recipe
from headrace.domain.parameters import Parameter
from headrace.domain.pipeline import Step
from headrace.domain.records import PipelineRecord, StepRecord, VersionRecord
from headrace.persistence.paging import Keyset, page
from headrace.persistence.tables import pipeline_steps, pipeline_versions, pipelines


def _pipeline(row: Row[Any]) -> PipelineRecord:
    m = row._mapping
    return PipelineRecord(
        id=m["id"],
        org_id=m["org_id"],
        name=m["name"],
        description=m["description"],
        current_version_id=m["current_version_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        max_active_runs=m["max_active_runs"],
        on_limit=m["on_limit"] or "queue",
    )


def add(
    conn: Connection,
    *,
    pipeline_id: uuid.UUID,
    org_id: uuid.UUID,
    name: str,
    description: str,
    now: dt.datetime,
) -> None:
    conn.execute(
        insert(pipelines).values(
            id=pipeline_id,
            org_id=org_id,
            name=name,
            description=description,
            current_version_id=None,
            created_at=now,
            updated_at=now,
        )
    )


# Built once (every request on a pipeline loads it): building the statement and its cache
# key on each call costs more than running it.
_GET = select(pipelines).where(
    pipelines.c.id == bindparam("pipeline_id"), pipelines.c.org_id == bindparam("org_id")
)
_GET_LOCKED = _GET.with_for_update()


def get(
    conn: Connection, org_id: uuid.UUID, pipeline_id: uuid.UUID, *, lock: bool = False
) -> PipelineRecord | None:
    query = _GET_LOCKED if lock else _GET
    row = conn.execute(query, {"pipeline_id": pipeline_id, "org_id": org_id}).first()
    return _pipeline(row) if row else None


def by_name(conn: Connection, org_id: uuid.UUID, name: str) -> PipelineRecord | None:
    row = conn.execute(
        select(pipelines).where(pipelines.c.org_id == org_id, pipelines.c.name == name)
    ).first()
    return _pipeline(row) if row else None


def list_for_org(
    conn: Connection, org_id: uuid.UUID, *, after: Keyset | None, limit: int
) -> list[PipelineRecord]:
    query = select(pipelines).where(pipelines.c.org_id == org_id)
    query = page(
        query, pipelines.c.created_at, pipelines.c.id, after=after, limit=limit, newest_first=True
    )
    return [_pipeline(r) for r in conn.execute(query)]


def update_fields(
    conn: Connection, pipeline_id: uuid.UUID, now: dt.datetime, **values: Any
) -> None:
    conn.execute(
        update(pipelines).where(pipelines.c.id == pipeline_id).values(updated_at=now, **values)
    )


def max_active_runs(conn: Connection, pipeline_id: uuid.UUID, *, lock: bool) -> int | None:
    """The pipeline's ``max_active_runs``; with ``lock``, its row locked for this transaction
    (``FOR NO KEY UPDATE``: a new run's foreign key does not wait on it), so claims of a
    limited pipeline take turns and two cannot both pass its limit."""
    query = select(pipelines.c.max_active_runs).where(pipelines.c.id == pipeline_id)
    if lock:
        query = query.with_for_update(key_share=True)
    return conn.execute(query).scalar()


def remove(conn: Connection, pipeline_id: uuid.UUID) -> None:
    conn.execute(delete(pipelines).where(pipelines.c.id == pipeline_id))


def add_version(
    conn: Connection,
    *,
    pipeline_id: uuid.UUID,
    steps: Sequence[Step],
    now: dt.datetime,
    parameters: Sequence[Parameter] = (),
    output_schemas: dict[str, Any] | None = None,
) -> VersionRecord:
    """Append the next immutable version and make it the pipeline's current one; the version
    as written, not read back (a version may hold 10,000 steps)."""
    number = (
        conn.execute(
            select(func.coalesce(func.max(pipeline_versions.c.number), 0)).where(
                pipeline_versions.c.pipeline_id == pipeline_id
            )
        ).scalar_one()
        + 1
    )
    version_id = uuid.uuid4()
    declared = [p.to_dict() for p in parameters]
    conn.execute(
        insert(pipeline_versions).values(
            id=version_id,
            pipeline_id=pipeline_id,
            number=number,
            created_at=now,
            parameters=declared or None,
            output_schemas=output_schemas,
        )
    )
    records = [
        StepRecord(id=uuid.uuid4(), name=step.name, config=step.config.to_dict(), created_at=now)
        for step in steps
    ]
    if records:
        conn.execute(
            insert(pipeline_steps),
            [
                {
                    "id": r.id,
                    "version_id": version_id,
                    "position": i,
                    "name": r.name,
                    "config": r.config,
                    "created_at": now,
                }
                for i, r in enumerate(records)
            ],
        )
    update_fields(conn, pipeline_id, now, current_version_id=version_id)
    return VersionRecord(
        id=version_id,
        pipeline_id=pipeline_id,
        number=number,
        created_at=now,
        steps=records,
        parameters=declared,
        output_schemas=output_schemas or {},
    )


VersionCache = Cache[uuid.UUID, VersionRecord]


def version_cache(size: int = 512) -> VersionCache:
    """Versions a process has read. A version never changes once written (a pipeline's
    delete takes them all, and every caller loads the pipeline before its versions), and the
    worker reads a run's version again for every step."""
    return Cache(size)


def versions_by_id(
    conn: Connection, version_ids: Collection[uuid.UUID], kept: VersionCache
) -> dict[uuid.UUID, VersionRecord]:
    """Versions with their steps: those in ``kept`` from memory, the rest in two queries
    whatever their number (and then kept)."""
    known = kept.get_many(version_ids)
    missing = [i for i in version_ids if i not in known]
    read = _read_versions(conn, missing)
    kept.put_many(read.items())
    return {**known, **read}


def _read_versions(
    conn: Connection, version_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, VersionRecord]:
    if not version_ids:
        return {}
    ids = list(version_ids)
    heads = conn.execute(select(pipeline_versions).where(pipeline_versions.c.id.in_(ids))).all()
    steps: dict[uuid.UUID, list[StepRecord]] = {v.id: [] for v in heads}
    recipes: dict[uuid.UUID, dict[str, Recipe]] = {v.id: {} for v in heads}
    for row in conn.execute(
        select(pipeline_steps)
        .where(pipeline_steps.c.version_id.in_(ids))
        .order_by(pipeline_steps.c.version_id, pipeline_steps.c.position)
    ):
        steps[row.version_id].append(
            StepRecord(id=row.id, name=row.name, config=row.config, created_at=row.created_at)
        )
        if row.recipe is not None:
            recipes[row.version_id][row.name] = Recipe.from_dict(row.recipe)
    return {
        v.id: VersionRecord(
            id=v.id,
            pipeline_id=v.pipeline_id,
            number=v.number,
            created_at=v.created_at,
            steps=steps[v.id],
            parameters=v.parameters or [],
            output_schemas=v.output_schemas or {},
            recipes=recipes[v.id],
        )
        for v in heads
    }


_KEEP_RECIPE = (
    update(pipeline_steps)
    .where(pipeline_steps.c.id == bindparam("step_id"))
    .values(recipe=bindparam("recipe"))
)


def keep_recipes(
    conn: Connection, version: VersionRecord, made: Mapping[str, Recipe], kept: VersionCache
) -> None:
    """Keep the recipes a run made of ``version``'s steps with them (and in ``kept``, the
    version as read from now on)."""
    ids = {s.name: s.id for s in version.steps if s.name in made}
    conn.execute(
        _KEEP_RECIPE, [{"step_id": ids[n], "recipe": r.to_dict()} for n, r in made.items()]
    )
    kept.put(version.id, replace(version, recipes={**version.recipes, **made}))


def version(
    conn: Connection,
    pipeline_id: uuid.UUID,
    version_id: uuid.UUID,
    kept: VersionCache,
) -> VersionRecord | None:
    found = versions_by_id(conn, [version_id], kept).get(version_id)
    return found if found is not None and found.pipeline_id == pipeline_id else None


def list_versions(
    conn: Connection,
    pipeline_id: uuid.UUID,
    *,
    after: Keyset | None,
    limit: int,
    kept: VersionCache,
) -> list[VersionRecord]:
    query = select(pipeline_versions.c.id).where(pipeline_versions.c.pipeline_id == pipeline_id)
    query = page(
        query,
        pipeline_versions.c.created_at,
        pipeline_versions.c.id,
        after=after,
        limit=limit,
        newest_first=True,
    )
    ids = list(conn.execute(query).scalars())
    found = versions_by_id(conn, ids, kept)
    return [found[i] for i in ids]


def pipelines_reading(conn: Connection, org_id: uuid.UUID, dataset_name: str) -> list[str]:
    """Names of pipelines whose current version has a step reading ``dataset_name``."""
    rows = conn.execute(
        select(pipelines.c.name, pipeline_steps.c.config)
        .join(pipeline_steps, pipeline_steps.c.version_id == pipelines.c.current_version_id)
        .where(pipelines.c.org_id == org_id)
    )
    return sorted({r.name for r in rows if dataset_name in r.config.get("input_datasets", [])})
