"""Organisations and API keys."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Connection, insert, select, update

from headrace.domain.records import ApiKeyRecord
from headrace.persistence.paging import Keyset, page
from headrace.persistence.tables import api_keys, organisations


def add_org(conn: Connection, org_id: uuid.UUID, name: str, now: dt.datetime) -> None:
    conn.execute(insert(organisations).values(id=org_id, name=name, created_at=now))


def add_key(
    conn: Connection,
    *,
    key_id: uuid.UUID,
    org_id: uuid.UUID,
    name: str,
    role: str,
    key_prefix: str,
    key_hash: str,
    now: dt.datetime,
) -> None:
    conn.execute(
        insert(api_keys).values(
            id=key_id,
            org_id=org_id,
            name=name,
            role=role,
            key_prefix=key_prefix,
            key_hash=key_hash,
            created_at=now,
        )
    )


def _record(row: object) -> ApiKeyRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKeyRecord(
        id=m["id"],
        org_id=m["org_id"],
        name=m["name"],
        role=m["role"],
        key_prefix=m["key_prefix"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.org_id,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.key_prefix,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


def by_hash(conn: Connection, key_hash: str) -> ApiKeyRecord | None:
    row = conn.execute(select(*_COLUMNS).where(api_keys.c.key_hash == key_hash)).first()
    return _record(row) if row else None


def list_for_org(
    conn: Connection, org_id: uuid.UUID, *, after: Keyset | None, limit: int
) -> list[ApiKeyRecord]:
    query = select(*_COLUMNS).where(api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None))
    query = page(
        query, api_keys.c.created_at, api_keys.c.id, after=after, limit=limit, newest_first=False
    )
    return [_record(r) for r in conn.execute(query)]


def revoke(conn: Connection, org_id: uuid.UUID, key_id: uuid.UUID, now: dt.datetime) -> bool:
    result = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id, api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def lock_active_admins(conn: Connection, org_id: uuid.UUID) -> set[uuid.UUID]:
    """The organisation's active admin keys, locked until the transaction ends (PostgreSQL;
    SQLite's writers queue anyway), so that two admins cannot revoke each other at once."""
    query = (
        select(api_keys.c.id)
        .where(
            api_keys.c.org_id == org_id,
            api_keys.c.role == "admin",
            api_keys.c.revoked_at.is_(None),
        )
        .with_for_update()
    )
    return set(conn.execute(query).scalars())


def revoked_since(conn: Connection, since: dt.datetime) -> list[uuid.UUID]:
    """The keys revoked at or after ``since``."""
    return list(conn.execute(select(api_keys.c.id).where(api_keys.c.revoked_at >= since)).scalars())


def org_by_name(conn: Connection, name: str) -> uuid.UUID | None:
    """The oldest organisation called ``name`` (names are labels, not keys)."""
    found = conn.execute(
        select(organisations.c.id)
        .where(organisations.c.name == name)
        .order_by(organisations.c.created_at)
        .limit(1)
    ).scalar()
    return uuid.UUID(str(found)) if found is not None else None
