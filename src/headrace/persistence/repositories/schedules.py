"""Schedules and the ticks that started runs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from headrace.domain.records import ScheduleRecord
from headrace.persistence.tables import schedule_ticks, schedules


def _record(row: Row[Any]) -> ScheduleRecord:
    m = row._mapping
    return ScheduleRecord(
        id=m["id"],
        org_id=m["org_id"],
        pipeline_id=m["pipeline_id"],
        cron=m["cron"],
        timezone=m["timezone"],
        enabled=bool(m["enabled"]),
        start_job_name=m["start_job_name"],
        end_job_name=m["end_job_name"],
        parameters=m["parameters"] or {},
        catchup=m["catchup"],
        next_fire_at=m["next_fire_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def add(conn: Connection, schedule: ScheduleRecord) -> None:
    values = asdict(schedule)
    values["enabled"] = int(schedule.enabled)
    conn.execute(insert(schedules).values(**values))


def of_pipeline(conn: Connection, pipeline_id: uuid.UUID) -> list[ScheduleRecord]:
    rows = conn.execute(
        select(schedules)
        .where(schedules.c.pipeline_id == pipeline_id)
        .order_by(schedules.c.created_at, schedules.c.id)
    )
    return [_record(r) for r in rows]


def get(
    conn: Connection, pipeline_id: uuid.UUID, schedule_id: uuid.UUID, *, lock: bool = False
) -> ScheduleRecord | None:
    query = select(schedules).where(
        schedules.c.id == schedule_id, schedules.c.pipeline_id == pipeline_id
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _record(row) if row else None


def update_fields(conn: Connection, schedule_id: uuid.UUID, **values: Any) -> None:
    if "enabled" in values:
        values["enabled"] = int(values["enabled"])
    conn.execute(update(schedules).where(schedules.c.id == schedule_id).values(**values))


def remove(conn: Connection, schedule_id: uuid.UUID) -> None:
    conn.execute(delete(schedule_ticks).where(schedule_ticks.c.schedule_id == schedule_id))
    conn.execute(delete(schedules).where(schedules.c.id == schedule_id))


def remove_for_pipeline(conn: Connection, pipeline_id: uuid.UUID) -> None:
    ids = select(schedules.c.id).where(schedules.c.pipeline_id == pipeline_id).scalar_subquery()
    conn.execute(delete(schedule_ticks).where(schedule_ticks.c.schedule_id.in_(ids)))
    conn.execute(delete(schedules).where(schedules.c.pipeline_id == pipeline_id))


def due(
    conn: Connection, now: dt.datetime, *, limit: int, skip_locked: bool
) -> list[ScheduleRecord]:
    """Enabled schedules whose next tick is at or before ``now``, soonest first, locked for
    this transaction: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` gives each schedule to one
    worker at a time; on SQLite the writing transaction itself makes the ticker single."""
    query = (
        select(schedules)
        .where(schedules.c.enabled == 1, schedules.c.next_fire_at <= now)
        .order_by(schedules.c.next_fire_at)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [_record(r) for r in conn.execute(query)]


def add_tick(
    conn: Connection,
    schedule_id: uuid.UUID,
    scheduled_for: dt.datetime,
    run_id: uuid.UUID | None,
    now: dt.datetime,
) -> None:
    """Record that this tick was handled; raises IntegrityError when it already was (the
    primary key (schedule_id, scheduled_for) is what makes a tick start one run)."""
    conn.execute(
        insert(schedule_ticks).values(
            schedule_id=schedule_id, scheduled_for=scheduled_for, run_id=run_id, created_at=now
        )
    )


def ticks(conn: Connection, schedule_id: uuid.UUID) -> list[tuple[dt.datetime, uuid.UUID | None]]:
    """(scheduled_for, run id) of every handled tick, oldest first."""
    rows = conn.execute(
        select(schedule_ticks.c.scheduled_for, schedule_ticks.c.run_id)
        .where(schedule_ticks.c.schedule_id == schedule_id)
        .order_by(schedule_ticks.c.scheduled_for)
    )
    return [(r.scheduled_for, r.run_id) for r in rows]
