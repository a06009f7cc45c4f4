"""Webhooks of organisations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from headrace.domain.records import WebhookRecord
from headrace.persistence.paging import Keyset, page
from headrace.persistence.tables import webhooks


def add(conn: Connection, hook: WebhookRecord) -> None:
    conn.execute(
        insert(webhooks).values(
            id=hook.id,
            org_id=hook.org_id,
            url=hook.url,
            events=hook.events,
            description=hook.description,
            secret=hook.secret,
            created_at=hook.created_at,
        )
    )


def _record(r: Row[Any]) -> WebhookRecord:
    return WebhookRecord(
        id=r.id,
        org_id=r.org_id,
        url=r.url,
        events=list(r.events),
        description=r.description,
        secret=r.secret,
        created_at=r.created_at,
    )


def get(conn: Connection, org_id: uuid.UUID, webhook_id: uuid.UUID) -> WebhookRecord | None:
    row = conn.execute(
        select(webhooks).where(webhooks.c.org_id == org_id, webhooks.c.id == webhook_id)
    ).first()
    return _record(row) if row else None


def list_for_org(
    conn: Connection, org_id: uuid.UUID, *, after: Keyset | None, limit: int
) -> list[WebhookRecord]:
    query = page(
        select(webhooks).where(webhooks.c.org_id == org_id),
        webhooks.c.created_at,
        webhooks.c.id,
        after=after,
        limit=limit,
        newest_first=False,
    )
    return [_record(r) for r in conn.execute(query)]


def of_orgs(conn: Connection, org_ids: Iterable[uuid.UUID]) -> list[WebhookRecord]:
    """Every webhook of these organisations, oldest first."""
    query = (
        select(webhooks)
        .where(webhooks.c.org_id.in_(list(org_ids)))
        .order_by(webhooks.c.created_at, webhooks.c.id)
    )
    return [_record(r) for r in conn.execute(query)]


def by_ids(conn: Connection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, WebhookRecord]:
    rows = conn.execute(select(webhooks).where(webhooks.c.id.in_(list(ids))))
    return {r.id: _record(r) for r in rows}


def remove(conn: Connection, org_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    done = conn.execute(
        delete(webhooks).where(webhooks.c.org_id == org_id, webhooks.c.id == webhook_id)
    )
    return done.rowcount > 0
