"""Idempotency-Key records: taken when a POST begins, completed with its answer.

``take`` is the one place two concurrent duplicates meet: an insert on the primary key
``(org_id, key)``, which exactly one of them wins on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headrace.persistence.tables import idempotency_keys as t


@dataclass(frozen=True)
class KeyRecord:
    api_key_id: uuid.UUID
    request_hash: str | None  # None while the first request is in flight
    status: int | None
    response: bytes | None
    created_at: dt.datetime


def take(
    conn: Connection, org_id: uuid.UUID, key: str, api_key_id: uuid.UUID, now: dt.datetime
) -> bool:
    """Record ``key`` as in flight; False when the organisation already holds it."""
    values = {"org_id": org_id, "key": key, "api_key_id": api_key_id, "created_at": now}
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(t).values(**values).on_conflict_do_nothing().returning(t.c.key)
    return conn.execute(statement).first() is not None


def get(conn: Connection, org_id: uuid.UUID, key: str) -> KeyRecord | None:
    row = conn.execute(
        select(t.c.api_key_id, t.c.request_hash, t.c.status, t.c.response, t.c.created_at).where(
            t.c.org_id == org_id, t.c.key == key
        )
    ).first()
    return None if row is None else KeyRecord(*row)


def complete(
    conn: Connection,
    org_id: uuid.UUID,
    key: str,
    *,
    taken_at: dt.datetime,
    request_hash: str,
    status: int,
    response: bytes,
) -> None:
    """Complete the record taken at ``taken_at`` (not one that replaced it)."""
    conn.execute(
        update(t)
        .where(t.c.org_id == org_id, t.c.key == key, t.c.created_at == taken_at)
        .values(request_hash=request_hash, status=status, response=response)
    )


def drop(conn: Connection, org_id: uuid.UUID, key: str, *, taken_at: dt.datetime) -> None:
    """Forget ``key`` if it is still the record taken at ``taken_at`` (not a newer one)."""
    conn.execute(delete(t).where(t.c.org_id == org_id, t.c.key == key, t.c.created_at == taken_at))


def drop_older(
    conn: Connection, *, completed_before: dt.datetime, taken_before: dt.datetime
) -> int:
    """Forget completed records taken before ``completed_before`` and records still in flight
    taken before ``taken_before``; how many were dropped."""
    expired = and_(t.c.request_hash.is_not(None), t.c.created_at < completed_before)
    abandoned = and_(t.c.request_hash.is_(None), t.c.created_at < taken_before)
    return conn.execute(delete(t).where(expired | abandoned)).rowcount
