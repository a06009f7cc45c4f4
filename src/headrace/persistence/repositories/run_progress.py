"""The statuses of a run and its steps, without the rest: what an event stream polls."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select

from headrace.persistence.tables import run_steps, runs


def statuses(conn: Connection, run_id: uuid.UUID) -> tuple[str, list[tuple[str, str]]] | None:
    """The run's status and each step's ``(name, status)`` in position order; None if gone."""
    status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
    if status is None:
        return None
    steps = conn.execute(
        select(run_steps.c.name, run_steps.c.status)
        .where(run_steps.c.run_id == run_id)
        .order_by(run_steps.c.position)
    )
    return str(status), [(r.name, r.status) for r in steps]
