"""The event outbox: status changes appended in the changing transaction, read by id.

Ids must grow in commit order, or a consumer that reads "after id N" could pass over a row
whose transaction took a smaller id but committed later. SQLite has one writer at a time, so
its ids are in commit order already; on PostgreSQL a sequence hands out ids at insert time,
so each appending transaction takes one transaction-scoped advisory lock, held to its
commit: appenders commit one after another, in id order. The rows are written last in the
transaction (``db.at_commit``), after all its row locks, so the lock is held only for the
insert and the commit, and its holder never waits on a transaction that waits for it.

Every consumer (the event stream of a run; webhooks, triggers and lineage) keeps its own
cursor, the last id it handled, and reads on with ``after`` or ``of_run``. Beside the status
changes of runs and steps, the outbox holds each new version of a dataset the catalog
records (``NewDatasetVersion``: an upload's, an upsert's or a step's), so that what follows a
dataset's versions reads the same ordered stream; ``of_run`` returns only status changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, text

from headrace.persistence.db import at_commit
from headrace.persistence.tables import run_events

# Any constant will do, but not the one migrations take (persistence/migrate.py).
_OUTBOX_LOCK = text("SELECT pg_advisory_xact_lock(7423461)")

_APPEND = insert(run_events)
_AFTER = (
    select(run_events)
    .where(
        run_events.c.run_id == bindparam("run_id"),
        run_events.c.id > bindparam("after"),
        run_events.c.dataset_id.is_(None),
    )
    .order_by(run_events.c.id)
    .limit(bindparam("limit"))
)
_ALL_AFTER = (
    select(run_events)
    .where(run_events.c.id > bindparam("after"))
    .order_by(run_events.c.id)
    .limit(bindparam("limit"))
)
_LAST_OF_RUN = select(func.max(run_events.c.id)).where(run_events.c.run_id == bindparam("run_id"))


@dataclass(frozen=True)
class NewEvent:
    """One status change: of the run itself (``step`` None) or of one of its steps.
    ``old`` is None for a run's creation."""

    run_id: uuid.UUID
    org_id: uuid.UUID
    pipeline_id: uuid.UUID
    step: str | None
    old: str | None
    new: str
    at: dt.datetime


@dataclass(frozen=True)
class RunEvent(NewEvent):
    """A change as the outbox holds it, under its id."""

    id: int


@dataclass(frozen=True)
class NewDatasetVersion:
    """A dataset's new version, just recorded in the catalog; ``run_id`` and ``step`` name
    the step that wrote it (None for an upload or an upsert)."""

    org_id: uuid.UUID
    dataset_id: uuid.UUID
    version: int
    run_id: uuid.UUID | None
    step: str | None
    at: dt.datetime


@dataclass(frozen=True)
class DatasetVersionEvent(NewDatasetVersion):
    """A new version as the outbox holds it, under its id."""

    id: int


OutboxEvent = RunEvent | DatasetVersionEvent


def append(conn: Connection, events: Sequence[NewEvent | NewDatasetVersion]) -> None:
    """Append ``events`` to the caller's unit of work, in the order given: they are written
    when it commits, and not at all if it rolls back."""
    at_commit(conn, _write).extend(events)


def _row(e: NewEvent | NewDatasetVersion) -> dict[str, Any]:
    if isinstance(e, NewDatasetVersion):
        return {
            "run_id": e.run_id,
            "org_id": e.org_id,
            "pipeline_id": None,
            "step_name": e.step,
            "old_status": None,
            "new_status": None,
            "dataset_id": e.dataset_id,
            "dataset_version": e.version,
            "at": e.at,
        }
    return {
        "run_id": e.run_id,
        "org_id": e.org_id,
        "pipeline_id": e.pipeline_id,
        "step_name": e.step,
        "old_status": e.old,
        "new_status": e.new,
        "dataset_id": None,
        "dataset_version": None,
        "at": e.at,
    }


def _write(conn: Connection, events: list[NewEvent | NewDatasetVersion]) -> None:
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_OUTBOX_LOCK)
    conn.execute(_APPEND, [_row(e) for e in events])


def _any_event(r: Row[Any]) -> OutboxEvent:
    if r.dataset_id is None:
        return _event(r)
    return DatasetVersionEvent(
        id=int(r.id),
        org_id=r.org_id,
        dataset_id=r.dataset_id,
        version=int(r.dataset_version),
        run_id=r.run_id,
        step=r.step_name,
        at=r.at,
    )


def _event(r: Row[Any]) -> RunEvent:
    return RunEvent(
        id=int(r.id),
        run_id=r.run_id,
        org_id=r.org_id,
        pipeline_id=r.pipeline_id,
        step=r.step_name,
        old=r.old_status,
        new=r.new_status,
        at=r.at,
    )


def of_run(conn: Connection, run_id: uuid.UUID, after: int, limit: int = 1000) -> list[RunEvent]:
    """The run's events with ids above ``after``, oldest first."""
    rows = conn.execute(_AFTER, {"run_id": run_id, "after": after, "limit": limit})
    return [_event(r) for r in rows]


def after(conn: Connection, after: int, limit: int = 1000) -> list[OutboxEvent]:
    """Every event with an id above ``after``, oldest first: a consumer's next batch."""
    return [_any_event(r) for r in conn.execute(_ALL_AFTER, {"after": after, "limit": limit})]


def last_of_run(conn: Connection, run_id: uuid.UUID) -> int:
    """The id of the run's newest event (0 when it has none)."""
    found = conn.execute(_LAST_OF_RUN, {"run_id": run_id}).scalar()
    return int(found or 0)
