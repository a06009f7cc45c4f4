"""Column lineage of a stored pipeline version (``domain/lineage.py``): the edges from each
input column to each output column, per step, over the schemas the version was saved with
(``output_schemas``) and the current schemas of the datasets it reads from outside."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from headrace.domain.access import Principal
from headrace.domain.lineage import Edge, version_lineage
from headrace.domain.pipeline import step_from_dict
from headrace.domain.records import VersionRecord
from headrace.services import pipelines
from headrace.services.binding import SaveBinder

if TYPE_CHECKING:
    from headrace.runtime import Runtime


def by_step(runtime: Runtime, org_id: uuid.UUID, version: VersionRecord) -> dict[str, list[Edge]]:
    """The edges of each step of ``version``, by step name."""
    steps = [step_from_dict(s.name, s.config) for s in version.steps]
    written = {o for s in steps for o in s.config.output_datasets}
    outside = sorted({i for s in steps for i in s.config.input_datasets} - written)
    columns = SaveBinder(runtime).existing(org_id, outside)
    existing = {name: [c for c, _ in cols] for name, cols in columns.items()}
    return version_lineage(steps, existing, version.output_schemas)


def of_version(
    runtime: Runtime, who: Principal, pipeline_id: uuid.UUID, version_id: uuid.UUID
) -> list[Edge]:
    """Every edge of the version, in step order."""
    version = pipelines.get_version(runtime.db, who, pipeline_id, version_id)
    found = by_step(runtime, who.org_id, version)
    return [edge for step in version.steps for edge in found[step.name]]
