"""The diff of two versions of a pipeline with its breaking flags (``domain/version_diff.py``),
naming the known readers of each column: the steps of every pipeline's current version of the
organisation that read it, by column lineage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headrace.domain.access import Principal
from headrace.domain.parameters import Parameter
from headrace.domain.pipeline import Step, step_from_dict
from headrace.domain.version_diff import diff_versions
from headrace.persistence.repositories import pipelines as repo
from headrace.services import column_lineage, pipelines
from headrace.services.binding import SaveBinder

if TYPE_CHECKING:
    from headrace.runtime import Runtime


def known_readers(runtime: Runtime, who: Principal) -> dict[tuple[str, str], list[str]]:
    """(dataset, column) → the "pipeline/step" of each current version's step reading it;
    a step whose columns are not known reads ``(dataset, "*")``."""
    with runtime.db.unit_of_work(write=False) as conn:
        found = repo.list_for_org(conn, who.org_id, after=None, limit=1_000_000)
        versions = repo.versions_by_id(
            conn, [p.current_version_id for p in found if p.current_version_id], runtime.db.versions
        )
    readers: dict[tuple[str, str], list[str]] = {}
    for pipeline in found:
        version = versions.get(pipeline.current_version_id) if pipeline.current_version_id else None
        if version is None:
            continue
        steps = [step_from_dict(s.name, s.config) for s in version.steps]
        lineage = column_lineage.by_step(runtime, who.org_id, version)
        for step in steps:
            where = f"{pipeline.name}/{step.name}"
            if step.name not in version.output_schemas:
                for dataset in step.config.input_datasets:
                    readers.setdefault((dataset, "*"), []).append(where)
                continue
            for edge in lineage[step.name]:
                key = (edge["from"]["dataset"], edge["from"]["column"])
                if where not in readers.get(key, []):
                    readers.setdefault(key, []).append(where)
    return readers


def proposed(
    runtime: Runtime,
    who: Principal,
    pipeline_id: uuid.UUID,
    steps: Sequence[Step],
    parameters: Sequence[Parameter],
) -> list[dict[str, Any]]:
    """The diff of ``steps`` (a version not saved) against the pipeline's current version:
    what ``headrace pipelines push`` shows before it adds a version."""
    current = pipelines.get(runtime.db, who, pipeline_id).current_version
    schemas = pipelines.checked_schemas(SaveBinder(runtime), who, steps, parameters)
    old = [step_from_dict(s.name, s.config) for s in current.steps] if current else []
    return diff_versions(
        steps,
        old,
        schemas,
        current.output_schemas if current else {},
        known_readers(runtime, who),
    )


def diff(
    runtime: Runtime,
    who: Principal,
    pipeline_id: uuid.UUID,
    version_id: uuid.UUID,
    against: uuid.UUID,
) -> list[dict[str, Any]]:
    new = pipelines.get_version(runtime.db, who, pipeline_id, version_id)
    old = pipelines.get_version(runtime.db, who, pipeline_id, against)
    return diff_versions(
        [step_from_dict(s.name, s.config) for s in new.steps],
        [step_from_dict(s.name, s.config) for s in old.steps],
        new.output_schemas,
        old.output_schemas,
        known_readers(runtime, who),
    )
