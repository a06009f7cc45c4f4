"""The trigger loop check, shared by a new trigger (``services/triggers.py``) and a new
pipeline version (``services/pipelines.py``): either may close a loop."""

from __future__ import annotations

from sqlalchemy import Connection

from headrace.domain.problems import Loc, Problem
from headrace.domain.records import PipelineRecord
from headrace.domain.triggers import describe_loop, find_loop
from headrace.persistence.repositories import triggers as repo


def loop_problems(
    conn: Connection,
    pipeline: PipelineRecord,
    loc: Loc,
    *,
    writes: set[str] | None = None,
    triggered_by: set[str] | None = None,
) -> list[Problem]:
    """The loop the organisation's pipelines and triggers would make with this pipeline's
    outputs replaced by ``writes`` or its triggers' datasets extended by ``triggered_by``;
    no problem when there would be none."""
    written, triggered = repo.org_graph(conn, pipeline.org_id)
    if writes is not None:
        written[pipeline.name] = writes
    if triggered_by is not None:
        triggered.setdefault(pipeline.name, set()).update(triggered_by)
    loop = find_loop(written, triggered)
    if loop is None:
        return []
    return [Problem(loc, f"this would make a trigger loop: {describe_loop(loop)}", "trigger.loop")]
