"""Datasets and their versions (the catalog; the bytes live in the warehouse)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, or_, select, update

from headrace.domain.records import DatasetRecord, DatasetVersionRecord, WrittenFigures
from headrace.persistence.paging import Keyset, page
from headrace.persistence.repositories import events
from headrace.persistence.repositories.events import NewDatasetVersion
from headrace.persistence.tables import dataset_versions, datasets


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


# Built once: every run's planning reads its datasets' rows.
_BY_NAMES = select(datasets).where(
    datasets.c.org_id == bindparam("org_id"),
    datasets.c.name.in_(bindparam("names", expanding=True)),
)


def by_names(conn: Connection, org_id: uuid.UUID, names: Collection[str]) -> dict[str, Row[Any]]:
    """The catalog row of each named dataset that exists, in one query."""
    if not names:
        return {}
    rows = conn.execute(_BY_NAMES, {"org_id": org_id, "names": list(names)})
    return {r.name: r for r in rows}


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


def stored_bytes(conn: Connection, org_id: uuid.UUID) -> int:
    """The bytes of every version of every dataset of the organisation (``domain.quota``):
    one query, through the index of ``(org_id, name)`` and that of ``(dataset_id, version)``."""
    total = conn.execute(
        select(func.coalesce(func.sum(dataset_versions.c.bytes), 0))
        .select_from(datasets.join(dataset_versions))
        .where(datasets.c.org_id == org_id)
    ).scalar_one()
    return int(total)


def every_table(conn: Connection) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """The organisation and id of every dataset in the store (the sweep's list of tables)."""
    rows = conn.execute(select(datasets.c.org_id, datasets.c.id))
    return {(uuid.UUID(str(r.org_id)), uuid.UUID(str(r.id))) for r in rows}


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
    written: WrittenFigures,
    now: dt.datetime,
    *,
    operation: str,
    key_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    step_name: str | None = None,
) -> None:
    """Record a committed Delta version with who wrote it (a key, or a run's step), and
    tell the outbox."""
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
    org_id = conn.execute(select(datasets.c.org_id).where(datasets.c.id == dataset_id)).scalar()
    assert org_id is not None, f"there is no dataset {dataset_id}"
    events.append(
        conn,
        [NewDatasetVersion(org_id, dataset_id, written.version, run_id, step_name, now)],
    )


def names(conn: Connection, dataset_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these datasets (those that still exist)."""
    if not dataset_ids:
        return {}
    rows = conn.execute(
        select(datasets.c.id, datasets.c.name).where(datasets.c.id.in_(list(dataset_ids)))
    )
    return {r.id: r.name for r in rows}


def _version_record(row: Any) -> DatasetVersionRecord:
    return DatasetVersionRecord(
        version=row.version,
        row_count=row.row_count,
        bytes=row.bytes,
        schema=list(row.schema),
        operation=row.operation,
        created_at=row.created_at,
        written_by_key_id=row.written_by_key_id,
        run_id=row.run_id,
        step_name=row.step_name,
    )


def _with_current(conn: Connection, rows: list[Row[Any]]) -> list[DatasetRecord]:
    """Dataset records, each with its current version's row (one query for all)."""
    wanted = [(r.id, r.current_version) for r in rows if r.current_version is not None]
    current: dict[uuid.UUID, DatasetVersionRecord] = {}
    if wanted:
        found = conn.execute(
            select(dataset_versions).where(
                or_(
                    *(
                        and_(dataset_versions.c.dataset_id == i, dataset_versions.c.version == v)
                        for i, v in wanted
                    )
                )
            )
        )
        current = {r.dataset_id: _version_record(r) for r in found}
    return [
        DatasetRecord(
            id=r.id,
            org_id=r.org_id,
            name=r.name,
            current_version=r.current_version,
            created_at=r.created_at,
            updated_at=r.updated_at,
            current=current.get(r.id),
        )
        for r in rows
    ]


def record(
    conn: Connection, org_id: uuid.UUID, dataset_id: uuid.UUID, *, lock: bool = False
) -> DatasetRecord | None:
    """One dataset of the organisation with its current version, or None."""
    query = select(datasets).where(datasets.c.org_id == org_id, datasets.c.id == dataset_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _with_current(conn, [row])[0] if row is not None else None


def records(
    conn: Connection, org_id: uuid.UUID, *, after: Keyset | None, limit: int
) -> list[DatasetRecord]:
    """A page of the organisation's datasets, newest first, with their current versions."""
    return _with_current(conn, list_for_org(conn, org_id, after=after, limit=limit))


def version_records(conn: Connection, dataset_id: uuid.UUID) -> list[DatasetVersionRecord]:
    """Every version of one dataset, newest first."""
    return [_version_record(r) for r in versions(conn, [dataset_id])]


def has_version(conn: Connection, dataset_id: uuid.UUID, version: int) -> bool:
    return (
        conn.execute(
            select(dataset_versions.c.id).where(
                dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.version == version
            )
        ).first()
        is not None
    )
