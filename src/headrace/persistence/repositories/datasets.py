"""Datasets and their versions (the catalog; the bytes live in the warehouse)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from headrace.persistence.paging import Keyset, page
from headrace.persistence.tables import dataset_versions, datasets

if TYPE_CHECKING:
    from headrace.storage.delta import WrittenVersion


def current_versions(conn: Connection, org_id: uuid.UUID, names: Collection[str]) -> dict[str, int]:
    """The current version of each named dataset that has one."""
    if not names:
        return {}
    rows = conn.execute(
        select(datasets.c.name, datasets.c.current_version).where(
            datasets.c.org_id == org_id,
            datasets.c.name.in_(list(names)),
            datasets.c.current_version.is_not(None),
        )
    )
    return {r.name: r.current_version for r in rows}


def by_name(
    conn: Connection, org_id: uuid.UUID, name: str, *, lock: bool = False
) -> Row[Any] | None:
    query = select(datasets).where(datasets.c.org_id == org_id, datasets.c.name == name)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).first()


def by_id(conn: Connection, org_id: uuid.UUID, dataset_id: uuid.UUID) -> Row[Any] | None:
    return conn.execute(
        select(datasets).where(datasets.c.org_id == org_id, datasets.c.id == dataset_id)
    ).first()


def add(
    conn: Connection, org_id: uuid.UUID, dataset_id: uuid.UUID, name: str, now: dt.datetime
) -> None:
    conn.execute(
        insert(datasets).values(
            id=dataset_id,
            org_id=org_id,
            name=name,
            current_version=None,
            created_at=now,
            updated_at=now,
        )
    )


def add_version(conn: Connection, dataset_id: uuid.UUID, now: dt.datetime, **values: Any) -> None:
    conn.execute(
        insert(dataset_versions).values(
            id=uuid.uuid4(), dataset_id=dataset_id, created_at=now, **values
        )
    )
    # Two writers may record out of commit order; the newest Delta version stays current.
    conn.execute(
        update(datasets)
        .where(
            datasets.c.id == dataset_id,
            or_(
                datasets.c.current_version.is_(None), datasets.c.current_version < values["version"]
            ),
        )
        .values(current_version=values["version"], updated_at=now)
    )


def list_for_org(
    conn: Connection, org_id: uuid.UUID, *, after: Keyset | None, limit: int
) -> list[Row[Any]]:
    query = select(datasets).where(datasets.c.org_id == org_id)
    query = page(
        query, datasets.c.created_at, datasets.c.id, after=after, limit=limit, newest_first=True
    )
    return list(conn.execute(query).all())


def versions(conn: Connection, dataset_ids: Collection[uuid.UUID]) -> list[Row[Any]]:
    if not dataset_ids:
        return []
    return list(
        conn.execute(
            select(dataset_versions)
            .where(dataset_versions.c.dataset_id.in_(list(dataset_ids)))
            .order_by(dataset_versions.c.dataset_id, dataset_versions.c.version.desc())
        ).all()
    )


def remove(conn: Connection, dataset_id: uuid.UUID) -> None:
    conn.execute(delete(dataset_versions).where(dataset_versions.c.dataset_id == dataset_id))
    conn.execute(delete(datasets).where(datasets.c.id == dataset_id))


def add_written(
    conn: Connection,
    dataset_id: uuid.UUID,
    written: WrittenVersion,
    now: dt.datetime,
    *,
    operation: str,
    key_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    step_name: str | None = None,
) -> None:
    """Record a committed Delta version with who wrote it: a key, or a run's step."""
    add_version(
        conn,
        dataset_id,
        now,
        version=written.version,
        row_count=written.row_count,
        bytes=written.bytes,
        schema=written.schema,
        operation=operation,
        written_by_key_id=key_id,
        run_id=run_id,
        step_name=step_name,
    )
