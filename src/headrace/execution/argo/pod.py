"""What a step pod works out before it runs: which step of its run its Argo node is."""

from __future__ import annotations

import uuid

from headrace.execution.argo.manifest import run_name_of_node
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo


def step_of_node(db: Database, run_id: uuid.UUID, node: str) -> str:
    """The name of the run's step that runs as the Argo node ``node`` (``{{node.name}}``)."""
    with db.unit_of_work(write=False) as conn:
        run = runs_repo.get_by_id(conn, run_id)
    if run is None:
        raise LookupError(f"there is no run {run_id}")
    wanted = run_name_of_node(node)
    for step in run.steps:
        if step.run_name == wanted:
            return step.name
    raise LookupError(f"run {run_id} has no step that runs as Argo node {node!r}")
