"""Consumers of the event outbox, each with a durable cursor of its own.

A consumer (webhooks, OpenLineage) turns a batch of outbox events into rows of its own in
the transaction that advances its cursor (``repositories/outbox_cursors.py``): either both
commit or neither, so each event is handled exactly once whatever restarts in between, and
what is to be sent to the outside world waits in ``deliveries`` until it is sent
(``services/dispatch.py``). A consumer never calls out from ``handle``: it runs inside a
transaction, which on SQLite holds every other writer back.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import Connection

from headrace.persistence.db import Database
from headrace.persistence.repositories import events as events_repo
from headrace.persistence.repositories import outbox_cursors
from headrace.persistence.repositories.events import OutboxEvent

BATCH = 500


class Consumer(Protocol):
    """Handles events in order, in the caller's transaction. ``from_newest``: when first
    seen, it starts after the newest event instead of at the beginning."""

    @property
    def name(self) -> str: ...

    @property
    def from_newest(self) -> bool: ...

    def handle(self, conn: Connection, events: list[OutboxEvent], now: dt.datetime) -> None: ...


def drain_once(db: Database, consumer: Consumer, now: dt.datetime, batch: int = BATCH) -> int:
    """Hand ``consumer`` its next batch of events and move its cursor past them, in one
    transaction; how many events it handled (0 also when another process holds the
    consumer's cursor just now)."""
    with db.unit_of_work() as conn:
        cursor = outbox_cursors.take(conn, consumer.name, now, from_newest=consumer.from_newest)
        if cursor is None:
            return 0
        events = events_repo.after(conn, cursor, batch)
        if events:
            consumer.handle(conn, events, now)
            outbox_cursors.advance(conn, consumer.name, events[-1].id, now)
        return len(events)


def drain(db: Database, consumer: Consumer, now: dt.datetime, batch: int = BATCH) -> int:
    """``drain_once`` until the consumer has caught up; how many events it handled."""
    total = 0
    while (handled := drain_once(db, consumer, now, batch)) > 0:
        total += handled
        if handled < batch:
            break
    return total
