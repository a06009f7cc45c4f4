"""Messages waiting to be sent, or sent, to webhooks and the OpenLineage endpoint.

A sender claims the due ones by moving their ``next_attempt_at`` past the time the attempt
may take (its lease): a process that dies mid-send leaves them due again once that passes,
so every message is sent at least once. On PostgreSQL the claim skips rows another process
is claiming at the same moment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from headrace.domain.records import DeliveryRecord
from headrace.persistence.paging import Keyset, page
from headrace.persistence.tables import deliveries


def add(conn: Connection, new: Sequence[DeliveryRecord]) -> None:
    if not new:
        return
    conn.execute(
        insert(deliveries),
        [
            {
                "id": d.id,
                "sink": d.sink,
                "webhook_id": d.webhook_id,
                "event": d.event,
                "payload": d.payload,
                "created_at": d.created_at,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
            }
            for d in new
        ],
    )


def _record(r: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=r.id,
        sink=r.sink,
        webhook_id=r.webhook_id,
        event=r.event,
        payload=r.payload,
        created_at=r.created_at,
        attempts=r.attempts,
        next_attempt_at=r.next_attempt_at,
        delivered_at=r.delivered_at,
        status_code=r.status_code,
        error=r.error,
    )


def claim_due(
    conn: Connection,
    now: dt.datetime,
    lease_until: dt.datetime,
    limit: int,
    *,
    skip_locked: bool,
) -> list[DeliveryRecord]:
    """The oldest due messages, up to ``limit``, each not due again before ``lease_until``."""
    query = (
        select(deliveries)
        .where(deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    found = [_record(r) for r in conn.execute(query)]
    if found:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([d.id for d in found]))
            .values(next_attempt_at=lease_until)
        )
    return found


def record_attempt(
    conn: Connection,
    delivery_id: uuid.UUID,
    *,
    attempts: int,
    status_code: int | None,
    error: str | None,
    delivered_at: dt.datetime | None,
    next_attempt_at: dt.datetime | None,
) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            attempts=attempts,
            status_code=status_code,
            error=error,
            delivered_at=delivered_at,
            next_attempt_at=next_attempt_at,
        )
    )


def of_webhook(
    conn: Connection, webhook_id: uuid.UUID, *, after: Keyset | None, limit: int
) -> list[DeliveryRecord]:
    """The webhook's messages, newest first."""
    query = page(
        select(deliveries).where(deliveries.c.webhook_id == webhook_id),
        deliveries.c.created_at,
        deliveries.c.id,
        after=after,
        limit=limit,
        newest_first=True,
    )
    return [_record(r) for r in conn.execute(query)]


def of_sink(conn: Connection, sink: str) -> list[DeliveryRecord]:
    """Every message to ``sink``, oldest first (for an operator's look and for tests)."""
    query = (
        select(deliveries)
        .where(deliveries.c.sink == sink)
        .order_by(deliveries.c.created_at, deliveries.c.id)
    )
    return [_record(r) for r in conn.execute(query)]


def remove_finished(conn: Connection, before: dt.datetime) -> int:
    """Delete the deliveries queued before ``before`` that are delivered or given up."""
    done = conn.execute(
        delete(deliveries).where(
            deliveries.c.next_attempt_at.is_(None), deliveries.c.created_at < before
        )
    )
    return done.rowcount
