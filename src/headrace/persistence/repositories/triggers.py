"""Dataset triggers, and what the loop check needs: what each pipeline writes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from headrace.domain.records import TriggerRecord
from headrace.persistence.tables import dataset_triggers, pipeline_steps, pipelines


def _record(row: Row[Any]) -> TriggerRecord:
    m = row._mapping
    return TriggerRecord(
        id=m["id"],
        org_id=m["org_id"],
        pipeline_id=m["pipeline_id"],
        datasets=list(m["datasets"]),
        mode=m["mode"],
        debounce_seconds=float(m["debounce_seconds"]),
        consumed=dict(m["consumed"] or {}),
        pending_since=m["pending_since"],
        created_at=m["created_at"],
    )


def add(conn: Connection, trigger: TriggerRecord) -> None:
    conn.execute(insert(dataset_triggers).values(**asdict(trigger)))


def of_pipeline(conn: Connection, pipeline_id: uuid.UUID) -> list[TriggerRecord]:
    rows = conn.execute(
        select(dataset_triggers)
        .where(dataset_triggers.c.pipeline_id == pipeline_id)
        .order_by(dataset_triggers.c.created_at, dataset_triggers.c.id)
    )
    return [_record(r) for r in rows]


def get(conn: Connection, pipeline_id: uuid.UUID, trigger_id: uuid.UUID) -> TriggerRecord | None:
    row = conn.execute(
        select(dataset_triggers).where(
            dataset_triggers.c.id == trigger_id, dataset_triggers.c.pipeline_id == pipeline_id
        )
    ).first()
    return _record(row) if row else None


def remove(conn: Connection, trigger_id: uuid.UUID) -> None:
    conn.execute(delete(dataset_triggers).where(dataset_triggers.c.id == trigger_id))


def remove_for_pipeline(conn: Connection, pipeline_id: uuid.UUID) -> None:
    conn.execute(delete(dataset_triggers).where(dataset_triggers.c.pipeline_id == pipeline_id))


def batch(
    conn: Connection, *, after: uuid.UUID | None, limit: int, skip_locked: bool
) -> list[TriggerRecord]:
    """Up to ``limit`` triggers in id order after ``after``, locked for this transaction
    (on PostgreSQL ``FOR UPDATE SKIP LOCKED``: a trigger another worker is evaluating is
    left to it)."""
    query = select(dataset_triggers).order_by(dataset_triggers.c.id).limit(limit)
    if after is not None:
        query = query.where(dataset_triggers.c.id > after)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [_record(r) for r in conn.execute(query)]


def settle(
    conn: Connection,
    trigger_id: uuid.UUID,
    *,
    consumed: dict[str, int | None] | None,
    pending_since: dt.datetime | None,
) -> None:
    """Record a pass: the versions now consumed (None: unchanged) and the window's start."""
    values: dict[str, Any] = {"pending_since": pending_since}
    if consumed is not None:
        values["consumed"] = consumed
    conn.execute(
        update(dataset_triggers).where(dataset_triggers.c.id == trigger_id).values(**values)
    )


def org_graph(
    conn: Connection, org_id: uuid.UUID
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """For the loop check, by pipeline name: the datasets each pipeline's current version
    writes, and the datasets whose new versions trigger it."""
    writes: dict[str, set[str]] = {}
    rows = conn.execute(
        select(pipelines.c.name, pipeline_steps.c.config)
        .join(pipeline_steps, pipeline_steps.c.version_id == pipelines.c.current_version_id)
        .where(pipelines.c.org_id == org_id)
    )
    for r in rows:
        writes.setdefault(r.name, set()).update(r.config.get("output_datasets") or [])
    triggered: dict[str, set[str]] = {}
    rows = conn.execute(
        select(pipelines.c.name, dataset_triggers.c.datasets)
        .join(dataset_triggers, dataset_triggers.c.pipeline_id == pipelines.c.id)
        .where(pipelines.c.org_id == org_id)
    )
    for r in rows:
        triggered.setdefault(r.name, set()).update(r.datasets)
    return writes, triggered
