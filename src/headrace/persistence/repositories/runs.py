"""Runs and their steps. Listing a page costs the same few queries whatever its size."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from headrace.domain.records import RunHead, RunRecord, RunRef, RunStepRecord
from headrace.persistence.paging import Keyset, KeysetParameters, page
from headrace.persistence.tables import (
    pipelines,
    run_events,
    run_steps,
    runs,
    step_fingerprints,
    step_logs,
)

ACTIVE = ("Pending", "Running")


# Built once: ``insert(table).values(**row)`` makes a new statement, and its cache key, on
# every call; executed with parameters, these compile once.
_INSERT_RUN = insert(runs)
_INSERT_STEPS = insert(run_steps)


def add(conn: Connection, run: RunRecord) -> None:
    """The run and its steps: two statements (the steps in one ``executemany``)."""
    conn.execute(
        _INSERT_RUN,
        {
            "id": run.id,
            "org_id": run.org_id,
            "pipeline_id": run.pipeline_id,
            "version_id": run.version_id,
            "name": run.name,
            "status": run.status,
            "start_job_name": run.start_job_name,
            "end_job_name": run.end_job_name,
            "retry_of": run.retry_of,
            "argo_manifest": run.argo_manifest,
            "argo_metadata": run.argo_metadata,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "cancel_requested": 0,
            "trigger": run.trigger,
            "parameters": run.parameters or None,
            "waiting_reason": run.waiting_reason,
        },
    )
    conn.execute(
        _INSERT_STEPS,
        [
            {
                "id": uuid.uuid4(),
                "run_id": run.id,
                "position": s.position,
                "name": s.name,
                "run_name": s.run_name,
                "status": s.status,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "rows_written": s.rows_written,
                "bytes_written": s.bytes_written,
                "input_versions": s.input_versions,
                "output_versions": s.output_versions,
                "error": s.error,
                "reused_from_run_id": s.reused_from_run_id,
                "reused_from_step": s.reused_from_step,
                "saved_seconds": s.saved_seconds,
            }
            for s in run.steps
        ],
    )


# Built once, like the inserts above: ``in_(ids)`` built a statement and its cache key on every
# call (a quarter of reading a listing page's runs in progress).
_RUNS_BY_ID = select(runs).where(runs.c.id.in_(bindparam("ids", expanding=True)))
_STEPS_OF = (
    select(run_steps)
    .where(run_steps.c.run_id.in_(bindparam("ids", expanding=True)))
    .order_by(run_steps.c.run_id, run_steps.c.position)
)


def _steps_of(
    conn: Connection, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RunStepRecord]]:
    found: dict[uuid.UUID, list[RunStepRecord]] = {i: [] for i in run_ids}
    if not run_ids:
        return found
    rows = conn.execute(_STEPS_OF, {"ids": list(run_ids)})
    for r in rows:
        found[r.run_id].append(_step(r))
    return found


def _step(r: Row[Any]) -> RunStepRecord:
    return RunStepRecord(
        name=r.name,
        run_name=r.run_name,
        status=r.status,
        position=r.position,
        started_at=r.started_at,
        finished_at=r.finished_at,
        rows_written=r.rows_written,
        bytes_written=r.bytes_written,
        input_versions=r.input_versions or {},
        output_versions=r.output_versions or {},
        error=r.error,
        checks=r.checks or [],
        reused_from_run_id=r.reused_from_run_id,
        reused_from_step=r.reused_from_step,
        saved_seconds=r.saved_seconds,
    )


_REF = select(runs.c.org_id, runs.c.pipeline_id, runs.c.version_id).where(
    runs.c.id == bindparam("id")
)
_STEPS_NAMED = select(run_steps).where(
    run_steps.c.run_id == bindparam("id"),
    run_steps.c.name.in_(bindparam("names", expanding=True)),
)


def ref(conn: Connection, run_id: uuid.UUID) -> RunRef | None:
    """Whose run it is and of which version, without reading the run itself."""
    row = conn.execute(_REF, {"id": run_id}).first()
    return None if row is None else RunRef(run_id, row.org_id, row.pipeline_id, row.version_id)


_PARAMETERS = select(runs.c.parameters, runs.c.trigger).where(runs.c.id == bindparam("id"))


def parameters(conn: Connection, run_id: uuid.UUID) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's parameter values and its trigger (what a step binds), without the run."""
    row = conn.execute(_PARAMETERS, {"id": run_id}).first()
    if row is None:
        return {}, {}
    return row.parameters or {}, row.trigger or {}


def steps_named(
    conn: Connection, run_id: uuid.UUID, names: Sequence[str]
) -> dict[str, RunStepRecord]:
    """Only these steps of a run (those it has), by name: a step reads its own row and its
    inputs' writers', not every step of the run."""
    rows = conn.execute(_STEPS_NAMED, {"id": run_id, "names": list(names)})
    return {r.name: _step(r) for r in rows}


def _records(conn: Connection, rows: Sequence[Row[Any]]) -> list[RunRecord]:
    steps = _steps_of(conn, [r.id for r in rows])
    return [
        RunRecord(
            id=r.id,
            org_id=r.org_id,
            pipeline_id=r.pipeline_id,
            version_id=r.version_id,
            name=r.name,
            status=r.status,
            start_job_name=r.start_job_name,
            end_job_name=r.end_job_name,
            retry_of=r.retry_of,
            argo_manifest=r.argo_manifest,
            argo_metadata=r.argo_metadata,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            steps=steps[r.id],
            trigger=r.trigger or {"type": "manual"},
            parameters=r.parameters or {},
            waiting_reason=r.waiting_reason,
        )
        for r in rows
    ]


def get(conn: Connection, pipeline_id: uuid.UUID, run_id: uuid.UUID) -> RunRecord | None:
    rows = conn.execute(
        select(runs).where(runs.c.id == run_id, runs.c.pipeline_id == pipeline_id)
    ).all()
    found = _records(conn, rows)
    return found[0] if found else None


def get_by_id(conn: Connection, run_id: uuid.UUID) -> RunRecord | None:
    found = _records(conn, conn.execute(select(runs).where(runs.c.id == run_id)).all())
    return found[0] if found else None


@dataclass(frozen=True)
class HeadPage:
    heads: list[RunHead]
    last: Keyset | None  # the position of the last head (where a next page starts)


@functools.cache
def _heads_query(by_version: bool, by_status: bool, after: bool) -> Select[Any]:
    """The heads statement of each shape, built once: building it and its cache key on
    every request is a good part of the query's CPU."""
    query = select(runs.c.id, runs.c.status, type_coerce(runs.c.created_at, NullType())).where(
        runs.c.pipeline_id == bindparam("pipeline_id")
    )
    if by_version:
        query = query.where(runs.c.version_id == bindparam("version_id"))
    if by_status:
        query = query.where(runs.c.status.in_(bindparam("statuses", expanding=True)))
    return page(
        query,
        runs.c.created_at,
        runs.c.id,
        after=KeysetParameters() if after else None,
        limit=bindparam("limit"),
        newest_first=True,
    )


def heads_for_pipeline(
    conn: Connection,
    pipeline_id: uuid.UUID,
    *,
    version_id: uuid.UUID | None,
    statuses: Sequence[str],
    after: Keyset | None,
    limit: int,
) -> HeadPage:
    """A page of the pipeline's runs, newest first: only the columns that say which runs they
    are and whether they have ended, so a caller reads in full only the ones it needs.

    ``created_at`` is read as the driver gives it and converted for the last row only:
    converting every row's (SQLite's text to an aware datetime) would be most of the query's
    CPU, and only the last one is used, for the next page's cursor."""
    query = _heads_query(version_id is not None, bool(statuses), after is not None)
    values: dict[str, Any] = {"pipeline_id": pipeline_id, "limit": limit}
    if version_id is not None:
        values["version_id"] = version_id
    if statuses:
        values["statuses"] = list(statuses)
    if after is not None:
        values |= KeysetParameters.values(after)
    rows = conn.execute(query, values).all()
    if not rows:
        return HeadPage([], None)
    heads = [RunHead(id=r[0], status=r[1]) for r in rows]
    typed = runs.c.created_at.type.dialect_impl(conn.dialect)
    convert = typed.result_processor(conn.dialect, None)
    created = convert(rows[-1][2]) if convert else rows[-1][2]
    assert isinstance(created, dt.datetime)
    return HeadPage(heads, Keyset(created, heads[-1].id))


def get_many(conn: Connection, run_ids: Sequence[uuid.UUID]) -> list[RunRecord]:
    """The runs with these ids, in no particular order; two queries whatever their number."""
    if not run_ids:
        return []
    return _records(conn, conn.execute(_RUNS_BY_ID, {"ids": list(run_ids)}).all())


def has_active(conn: Connection, pipeline_id: uuid.UUID) -> bool:
    return (
        conn.execute(
            select(runs.c.id)
            .where(runs.c.pipeline_id == pipeline_id, runs.c.status.in_(ACTIVE))
            .limit(1)
        ).first()
        is not None
    )


def remove_for_pipeline(conn: Connection, pipeline_id: uuid.UUID) -> None:
    ids = select(runs.c.id).where(runs.c.pipeline_id == pipeline_id).scalar_subquery()
    conn.execute(delete(step_logs).where(step_logs.c.run_id.in_(ids)))
    conn.execute(delete(run_events).where(run_events.c.run_id.in_(ids)))
    conn.execute(delete(step_fingerprints).where(step_fingerprints.c.run_id.in_(ids)))
    conn.execute(delete(run_steps).where(run_steps.c.run_id.in_(ids)))
    conn.execute(delete(runs).where(runs.c.pipeline_id == pipeline_id))


def move_run(
    conn: Connection,
    run_id: uuid.UUID,
    old: str,
    new: str,
    *,
    started_at: dt.datetime | None = None,
    finished_at: dt.datetime | None = None,
) -> bool:
    """Set the run's status to ``new`` if it is still ``old`` (False when it is not): the
    compare-and-set under every status change, which ``services/lifecycle.py`` alone calls."""
    values: dict[str, Any] = {"status": new, "finished_at": finished_at}
    if started_at is not None:
        values["started_at"] = started_at
    result = conn.execute(
        update(runs).where(runs.c.id == run_id, runs.c.status == old).values(**values)
    )
    return result.rowcount == 1


def move_step(
    conn: Connection,
    run_id: uuid.UUID,
    name: str,
    old: str,
    new: str,
    *,
    finished_at: dt.datetime | None,
    error: str | None,
    started_at: dt.datetime | None = None,
    set_start: bool = False,
    attempt: dt.datetime | None = None,
) -> bool:
    """Set a step's status to ``new`` if it is still ``old`` (and, given ``attempt``, still
    the run of it that started then); like ``move_run``. Its start is left as it is unless
    ``set_start``."""
    values: dict[str, Any] = {"status": new, "finished_at": finished_at, "error": error}
    if set_start:
        values["started_at"] = started_at
    query = update(run_steps).where(
        run_steps.c.run_id == run_id, run_steps.c.name == name, run_steps.c.status == old
    )
    if attempt is not None:
        query = query.where(run_steps.c.started_at == attempt)
    return conn.execute(query.values(**values)).rowcount == 1


_STEP_STATUSES = select(run_steps.c.name, run_steps.c.status, run_steps.c.started_at).where(
    run_steps.c.run_id == bindparam("id"),
    run_steps.c.name.in_(bindparam("names", expanding=True)),
)


def step_statuses(
    conn: Connection, run_id: uuid.UUID, names: Sequence[str]
) -> dict[str, tuple[str, dt.datetime | None]]:
    """The status and start of these steps of a run, by name."""
    rows = conn.execute(_STEP_STATUSES, {"id": run_id, "names": list(names)})
    return {r.name: (r.status, r.started_at) for r in rows}


_OPEN_STEPS = select(run_steps.c.name).where(
    run_steps.c.run_id == bindparam("id"), run_steps.c.status.in_(ACTIVE)
)


def open_steps(conn: Connection, run_id: uuid.UUID) -> list[str]:
    """The names of the run's steps that have not ended."""
    return [r.name for r in conn.execute(_OPEN_STEPS, {"id": run_id})]


def run_status(conn: Connection, run_id: uuid.UUID) -> str | None:
    return conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()


def set_metadata(conn: Connection, run_id: uuid.UUID, metadata: dict[str, Any]) -> None:
    """What the executor reports of the run (``argo_metadata``): not a status."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(argo_metadata=metadata))


def release(conn: Connection, run_id: uuid.UUID) -> None:
    """The run's worker lets go of it (it has ended)."""
    conn.execute(
        update(runs).where(runs.c.id == run_id).values(worker_id=None, lease_expires_at=None)
    )


def request_cancel(conn: Connection, run_id: uuid.UUID) -> None:
    conn.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=1))


def record_step(
    conn: Connection,
    run_id: uuid.UUID,
    name: str,
    *,
    input_versions: dict[str, int] | None = None,
    output_versions: dict[str, int] | None = None,
    rows_written: int | None = None,
    bytes_written: int | None = None,
    checks: list[dict[str, Any]] | None = None,
) -> None:
    """What a step read and wrote, and its checks' results (its status is the lifecycle's)."""
    values: dict[str, Any] = {
        "input_versions": input_versions,
        "output_versions": output_versions,
        "rows_written": rows_written,
        "bytes_written": bytes_written,
        "checks": checks,
    }
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        conn.execute(
            update(run_steps)
            .where(run_steps.c.run_id == run_id, run_steps.c.name == name)
            .values(**values)
        )


def add_logs(
    conn: Connection, run_id: uuid.UUID, step_name: str, lines: Sequence[tuple[dt.datetime, str]]
) -> None:
    if lines:
        conn.execute(
            insert(step_logs),
            [
                {"run_id": run_id, "step_name": step_name, "logged_at": at, "line": line}
                for at, line in lines
            ],
        )


def logs(conn: Connection, run_id: uuid.UUID, step_name: str) -> list[tuple[dt.datetime, str]]:
    rows = conn.execute(
        select(step_logs.c.logged_at, step_logs.c.line)
        .where(step_logs.c.run_id == run_id, step_logs.c.step_name == step_name)
        .order_by(step_logs.c.id)
    )
    return [(r.logged_at, r.line) for r in rows]


def claimable(
    conn: Connection,
    now: dt.datetime,
    *,
    skip_locked: bool,
    only: uuid.UUID | None = None,
    org_limit: int = 0,
) -> tuple[uuid.UUID, str] | None:
    """The next run to execute, with its status, locked for the claiming transaction: a
    Pending run, or a Running one whose worker's lease has expired.

    Fair between organisations: the run of the organisation with the fewest runs in
    progress comes first (oldest first among equals), so one organisation's long or many
    runs never keep another's waiting; with ``org_limit``, an organisation with that many
    runs in progress gets none. A Pending run of a pipeline with ``max_active_runs`` runs
    Running waits (a run taken over is not held back: it is one of them). ``only``
    restricts the choice to one run (``headrace run`` executes the run it created). On
    PostgreSQL ``FOR NO KEY UPDATE SKIP LOCKED`` lets many workers claim at once without
    waiting on each other, and leaves the row to the key-share lock of an event row's
    foreign key (``FOR UPDATE`` would make an outbox writer wait while holding the outbox
    lock); on SQLite the writing transaction itself makes the claimer single."""
    active = runs.alias("active")
    # Counted once per claim, not once per waiting run: a correlated count per candidate
    # read every waiting run's organisation's runs again, a quadratic cost in the queue.
    busy = (
        select(active.c.org_id, func.count().label("runs"))
        .where(active.c.status == "Running", active.c.lease_expires_at >= now)
        .group_by(active.c.org_id)
        .subquery("busy")
    )
    in_progress = func.coalesce(busy.c.runs, 0)
    running = runs.alias("running")
    pipeline_busy = (
        select(running.c.pipeline_id, func.count().label("runs"))
        .where(running.c.status == "Running")
        .group_by(running.c.pipeline_id)
        .subquery("pipeline_busy")
    )
    under_limit = pipelines.c.max_active_runs.is_(None) | (
        func.coalesce(pipeline_busy.c.runs, 0) < pipelines.c.max_active_runs
    )
    query = (
        select(runs.c.id, runs.c.status)
        .outerjoin(busy, busy.c.org_id == runs.c.org_id)
        .join(pipelines, pipelines.c.id == runs.c.pipeline_id)
        .outerjoin(pipeline_busy, pipeline_busy.c.pipeline_id == runs.c.pipeline_id)
        .where(
            ((runs.c.status == "Pending") & (runs.c.cancel_requested == 0) & under_limit)
            | ((runs.c.status == "Running") & (runs.c.lease_expires_at < now))
        )
        .order_by(in_progress, runs.c.created_at)
        .limit(1)
    )
    if org_limit:
        query = query.where(in_progress < org_limit)
    if only is not None:
        query = query.where(runs.c.id == only)
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=runs, key_share=True)
    row = conn.execute(query).first()
    return None if row is None else (uuid.UUID(str(row.id)), str(row.status))


def running_count(conn: Connection, pipeline_id: uuid.UUID) -> int:
    """How many runs of the pipeline are Running."""
    return int(
        conn.execute(
            select(func.count()).where(
                runs.c.pipeline_id == pipeline_id, runs.c.status == "Running"
            )
        ).scalar_one()
    )


def active_count(conn: Connection, pipeline_id: uuid.UUID) -> int:
    """How many runs of the pipeline are Pending or Running."""
    return int(
        conn.execute(
            select(func.count()).where(runs.c.pipeline_id == pipeline_id, runs.c.status.in_(ACTIVE))
        ).scalar_one()
    )


def set_waiting(conn: Connection, run_id: uuid.UUID, reason: str | None) -> None:
    """Why a Pending run is held back (None: it is not)."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(waiting_reason=reason))


def take_lease(
    conn: Connection, run_id: uuid.UUID, worker_id: str, lease_until: dt.datetime
) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(worker_id=worker_id, lease_expires_at=lease_until)
    )


def renew_lease(
    conn: Connection, run_id: uuid.UUID, worker_id: str, lease_until: dt.datetime
) -> bool:
    """Extend our lease; False when another worker has taken the run over."""
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.worker_id == worker_id, runs.c.status == "Running")
        .values(lease_expires_at=lease_until)
    )
    return result.rowcount == 1


def cancel_requested(conn: Connection, run_id: uuid.UUID) -> bool:
    return bool(conn.execute(select(runs.c.cancel_requested).where(runs.c.id == run_id)).scalar())
