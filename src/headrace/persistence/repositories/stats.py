"""Aggregates over runs and steps for ``/metrics``: each one query, computed by the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from headrace.persistence.tables import run_steps, runs


def _seconds(conn: Connection, end: Any, start: Any) -> ColumnElement[Any]:
    """``end - start`` in seconds, in the dialect's own arithmetic."""
    if conn.dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def runs_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status))
    return {status: int(n) for status, n in rows}


def steps_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(run_steps.c.status, func.count()).group_by(run_steps.c.status))
    return {status: int(n) for status, n in rows}


def reuse(conn: Connection) -> tuple[int, float]:
    """How many run steps reused an earlier result, and the seconds those results took."""
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(run_steps.c.saved_seconds), 0.0)).where(
            run_steps.c.reused_from_run_id.is_not(None)
        )
    ).one()
    return int(row[0]), float(row[1])


def _histogram(
    conn: Connection, seconds: ColumnElement[Any], source: Any, bounds: Sequence[float]
) -> tuple[list[int], int, float]:
    """Cumulative counts per upper bound, the count and the sum of ``seconds`` over ``source``."""
    values = source.add_columns(seconds.label("s")).subquery()
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(values.c.s), 0.0),
            *[func.coalesce(func.sum(case((values.c.s <= b, 1), else_=0)), 0) for b in bounds],
        )
    ).one()
    return [int(n) for n in row[2:]], int(row[0]), float(row[1])


def step_durations(conn: Connection, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Steps that ran and ended: from their start to their end."""
    source = (
        select()
        .select_from(run_steps)
        .where(run_steps.c.started_at.is_not(None), run_steps.c.finished_at.is_not(None))
    )
    seconds = _seconds(conn, run_steps.c.finished_at, run_steps.c.started_at)
    return _histogram(conn, seconds, source, bounds)


def queue_waits(conn: Connection, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Runs whose first step has started: from their creation (Pending) to that start."""
    first = (
        select(run_steps.c.run_id, func.min(run_steps.c.started_at).label("first_start"))
        .where(run_steps.c.started_at.is_not(None))
        .group_by(run_steps.c.run_id)
        .subquery()
    )
    source = select().select_from(runs.join(first, first.c.run_id == runs.c.id))
    return _histogram(conn, _seconds(conn, first.c.first_start, runs.c.created_at), source, bounds)


def worker_leases(conn: Connection) -> dict[str, dt.datetime]:
    """Each worker holding a run, with the latest lease its heartbeats extended."""
    rows = conn.execute(
        select(runs.c.worker_id, func.max(runs.c.lease_expires_at))
        .where(runs.c.status == "Running", runs.c.worker_id.is_not(None))
        .group_by(runs.c.worker_id)
    )
    found = {}
    for worker, until in rows:
        if until is not None:
            until = until if isinstance(until, dt.datetime) else dt.datetime.fromisoformat(until)
            found[str(worker)] = until if until.tzinfo else until.replace(tzinfo=dt.UTC)
    return found
