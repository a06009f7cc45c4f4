"""The event outbox: status changes appended in the changing transaction, read in order.

Consumers read "the events after the last one I handled", so the order they read must never
put a row before one they have already passed. Ids cannot give that order on PostgreSQL: a
sequence hands them out at insert time, and a transaction that took a smaller id may commit
after one that took a larger. Holding a lock from each insert to its commit would put the
ids in commit order, but every writing transaction of every process would then commit one at
a time (measured: a fifth fewer runs accepted per second under 16 clients). So each row also
gets ``seq``, its place in the read order, once it has committed: the next free numbers, in
id order, to every committed row that has none. Whoever numbers must see every row committed
before it, and must not number beside another numbering: on PostgreSQL a reader numbers,
under a transaction-scoped advisory lock that it only tries (a reader that does not get it
reads what is numbered, and the rows being numbered show up in its next read, above
everything already numbered); on SQLite, with its one writer, the writing transaction
numbers its own rows before it commits. ``RunEvent.id`` is the ``seq``.

The rows are written last in their transaction (``db.at_commit``), after every row lock it
takes. Every consumer (the event stream of a run; webhooks, triggers and lineage) keeps its
own cursor, the last ``seq`` it handled, and reads on with ``after`` or ``of_run``. Beside
the status changes of runs and steps, the outbox holds each new version of a dataset the
catalog records (``NewDatasetVersion``: an upload's, an upsert's or a step's), so that what
follows a dataset's versions reads the same ordered stream; ``of_run`` returns only status
changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, or_, select, text

from headrace.persistence.db import at_commit
from headrace.persistence.tables import run_events

# Any constant will do, but not the one migrations take (persistence/migrate.py).
NUMBERING_LOCK_KEY = 7423461
_NUMBERING_LOCK = text(f"SELECT pg_try_advisory_xact_lock({NUMBERING_LOCK_KEY})")
# The committed rows without a place get the next ones, in id order (an event's rows keep the
# order they were appended in).
_NUMBER = text(
    "WITH top AS (SELECT coalesce(max(seq), 0) AS n FROM run_events),"
    " fresh AS (SELECT id, row_number() OVER (ORDER BY id) AS k"
    " FROM run_events WHERE seq IS NULL)"
    " UPDATE run_events SET seq = top.n + fresh.k FROM top, fresh"
    " WHERE run_events.id = fresh.id"
)

_APPEND = insert(run_events)
_AFTER = (
    select(run_events)
    .where(
        run_events.c.run_id == bindparam("run_id"),
        run_events.c.seq > bindparam("after"),
        run_events.c.dataset_id.is_(None),
    )
    .order_by(run_events.c.seq)
    .limit(bindparam("limit"))
)
_ALL_AFTER = (
    select(run_events)
    .where(run_events.c.seq > bindparam("after"))
    .order_by(run_events.c.seq)
    .limit(bindparam("limit"))
)
_LAST_OF_RUN = select(func.max(run_events.c.seq)).where(run_events.c.run_id == bindparam("run_id"))
_NEWEST = select(func.coalesce(func.max(run_events.c.seq), 0))
_UNREAD = (
    select(run_events.c.id)
    .where(
        run_events.c.run_id == bindparam("run_id"),
        run_events.c.dataset_id.is_(None),
        or_(run_events.c.seq.is_(None), run_events.c.seq > bindparam("after")),
    )
    .limit(1)
)


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
    """A change as the outbox holds it, under its place in the read order (``seq``)."""

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
    """A new version as the outbox holds it, under its place in the read order (``seq``)."""

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
    conn.execute(_APPEND, [_row(e) for e in events])
    if conn.dialect.name == "sqlite":  # the one writer: its rows are the next to commit
        conn.execute(_NUMBER)


def _number(conn: Connection) -> None:
    """Give the committed rows that have none their place, unless another reader of
    PostgreSQL is at it now (then its numbers are in this one's next read)."""
    if conn.dialect.name == "postgresql" and conn.execute(_NUMBERING_LOCK).scalar():
        conn.execute(_NUMBER)


def _any_event(r: Row[Any]) -> OutboxEvent:
    if r.dataset_id is None:
        return _event(r)
    return DatasetVersionEvent(
        id=int(r.seq),
        org_id=r.org_id,
        dataset_id=r.dataset_id,
        version=int(r.dataset_version),
        run_id=r.run_id,
        step=r.step_name,
        at=r.at,
    )


def _event(r: Row[Any]) -> RunEvent:
    return RunEvent(
        id=int(r.seq),
        run_id=r.run_id,
        org_id=r.org_id,
        pipeline_id=r.pipeline_id,
        step=r.step_name,
        old=r.old_status,
        new=r.new_status,
        at=r.at,
    )


def of_run(conn: Connection, run_id: uuid.UUID, after: int, limit: int = 1000) -> list[RunEvent]:
    """The run's events placed after ``after``, in order."""
    _number(conn)
    rows = conn.execute(_AFTER, {"run_id": run_id, "after": after, "limit": limit})
    return [_event(r) for r in rows]


def after(conn: Connection, after: int, limit: int = 1000) -> list[OutboxEvent]:
    """Every event placed after ``after``, in order: a consumer's next batch."""
    _number(conn)
    return [_any_event(r) for r in conn.execute(_ALL_AFTER, {"after": after, "limit": limit})]


def last_of_run(conn: Connection, run_id: uuid.UUID) -> int:
    """The place of the run's newest event (0 when it has none)."""
    _number(conn)
    found = conn.execute(_LAST_OF_RUN, {"run_id": run_id}).scalar()
    return int(found or 0)


def all_placed_by(conn: Connection, run_id: uuid.UUID, seq: int) -> bool:
    """Whether every event of the run committed so far has its place at or before ``seq``:
    a reader that has read the run's events up to ``seq`` has read them all."""
    return conn.execute(_UNREAD, {"run_id": run_id, "after": seq}).first() is None


def newest(conn: Connection) -> int:
    """The place of the newest event (0 when there is none)."""
    _number(conn)
    return int(conn.execute(_NEWEST).scalar_one())
