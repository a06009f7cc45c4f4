"""The cursors of the outbox's consumers: one row each, locked while its consumer reads on.

A consumer's row is taken ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so of several worker
processes one handles a given consumer's next batch and the others pass; SQLite has one
writer at a time anyway. A consumer seen for the first time starts at the beginning of the
outbox, or after its newest event (``from_newest``: turning it on does not replay the store's
whole history).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headrace.persistence.repositories import events
from headrace.persistence.tables import outbox_cursors


def take(conn: Connection, consumer: str, now: dt.datetime, *, from_newest: bool) -> int | None:
    """Lock ``consumer``'s cursor for this transaction and return it (None: another process
    holds it)."""
    start = events.newest(conn) if from_newest else 0
    values = {"consumer": consumer, "last_id": start, "updated_at": now}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(outbox_cursors).values(values).on_conflict_do_nothing())
        query = (
            select(outbox_cursors.c.last_id)
            .where(outbox_cursors.c.consumer == consumer)
            .with_for_update(skip_locked=True)
        )
    else:
        conn.execute(sqlite_insert(outbox_cursors).values(values).on_conflict_do_nothing())
        query = select(outbox_cursors.c.last_id).where(outbox_cursors.c.consumer == consumer)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def advance(conn: Connection, consumer: str, last_id: int, now: dt.datetime) -> None:
    conn.execute(
        update(outbox_cursors)
        .where(outbox_cursors.c.consumer == consumer)
        .values(last_id=last_id, updated_at=now)
    )
