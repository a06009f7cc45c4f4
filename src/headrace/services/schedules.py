"""Schedules: create, list, change, delete, and the pass that starts the runs of due ticks.

Each tick starts exactly one run of the pipeline's current version. That rests on the
database, not on timing: the tick's row in ``schedule_ticks`` (primary key schedule and
tick time) is inserted in the transaction that inserts the run, so a second worker, a
restart or a worker killed mid-tick (its transaction never commits) cannot start a tick's
run twice or lose it. On PostgreSQL due schedules are read ``FOR UPDATE SKIP LOCKED``, so
workers share them out instead of colliding.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from headrace.domain.access import Principal
from headrace.domain.problems import Loc, Problem
from headrace.domain.records import PipelineRecord, ScheduleRecord, VersionRecord
from headrace.domain.schedules import Cron, check, due
from headrace.errors import HeadraceError, InvalidInput, NotFound
from headrace.persistence.db import Database
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import schedules as repo
from headrace.services import runs
from headrace.services.clock import utcnow
from headrace.services.pipelines import load as load_pipeline
from headrace.settings import Settings

log = logging.getLogger("headrace.scheduler")

UPCOMING = 5  # how many next fire times a schedule shows
BATCH = 200  # due schedules handled per transaction


@dataclass(frozen=True)
class ScheduleView:
    schedule: ScheduleRecord
    next_fire_times: list[dt.datetime]


@dataclass(frozen=True)
class ScheduleFields:
    """A schedule as a client sends it (every field on create; the changed ones on PATCH)."""

    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    start_job_name: str | None = None
    end_job_name: str | None = None
    parameters: dict[str, Any] | None = None
    catchup: str = "latest"


def _view(schedule: ScheduleRecord, now: dt.datetime) -> ScheduleView:
    upcoming = (
        Cron(schedule.cron, schedule.timezone).upcoming(now, UPCOMING) if schedule.enabled else []
    )
    return ScheduleView(schedule, upcoming)


def _problems(
    conn: Connection, db: Database, pipeline: PipelineRecord, fields: ScheduleFields, loc: Loc
) -> list[Problem]:
    """Every problem of a schedule: its cron, zone and catch-up, and its steps and
    parameters against the pipeline's current version."""
    problems = check(fields.cron, fields.timezone, fields.catchup, loc)
    version = _current(conn, db, pipeline)
    if version is None:
        return [*problems, Problem(loc, "the pipeline has no version to run", "schedule.empty")]
    names = {s.name for s in version.steps}
    for field_name, value in (
        ("start_job_name", fields.start_job_name),
        ("end_job_name", fields.end_job_name),
    ):
        if value is not None and value not in names:
            problems.append(
                Problem((*loc, field_name), f"the pipeline has no step {value!r}", "unknown_step")
            )
    try:
        runs.run_parameters(version, fields.parameters or {}, (*loc, "parameters"))
    except InvalidInput as err:
        problems += err.problems
    return problems


def _current(conn: Connection, db: Database, pipeline: PipelineRecord) -> VersionRecord | None:
    if pipeline.current_version_id is None:
        return None
    return pipelines_repo.version(conn, pipeline.id, pipeline.current_version_id, db.versions)


def create(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    fields: ScheduleFields,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ScheduleView:
    now = clock()
    with db.unit_of_work() as conn:
        pipeline = load_pipeline(conn, who, pipeline_id)
        problems = _problems(conn, db, pipeline, fields, ("body",))
        if problems:
            raise InvalidInput(f"the schedule has {len(problems)} problem(s)", problems)
        cron = Cron(fields.cron, fields.timezone)
        schedule = ScheduleRecord(
            id=uuid.uuid4(),
            org_id=pipeline.org_id,
            pipeline_id=pipeline.id,
            cron=fields.cron,
            timezone=fields.timezone,
            enabled=fields.enabled,
            start_job_name=fields.start_job_name,
            end_job_name=fields.end_job_name,
            parameters=fields.parameters or {},
            catchup=fields.catchup,
            next_fire_at=cron.next_after(now) if fields.enabled else None,
            created_at=now,
            updated_at=now,
        )
        repo.add(conn, schedule)
    return _view(schedule, now)


def list_for_pipeline(
    db: Database, who: Principal, pipeline_id: uuid.UUID, clock: Callable[[], dt.datetime] = utcnow
) -> list[ScheduleView]:
    now = clock()
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        return [_view(s, now) for s in repo.of_pipeline(conn, pipeline_id)]


def _load(
    conn: Connection, pipeline_id: uuid.UUID, schedule_id: uuid.UUID, *, lock: bool = False
) -> ScheduleRecord:
    found = repo.get(conn, pipeline_id, schedule_id, lock=lock)
    if found is None:
        raise NotFound(f"there is no schedule {schedule_id} of this pipeline")
    return found


def update(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    schedule_id: uuid.UUID,
    changes: dict[str, Any],
    clock: Callable[[], dt.datetime] = utcnow,
) -> ScheduleView:
    """Change the given fields; a new cron, zone or re-enabling starts from the next tick
    after now (the ticks meanwhile are not caught up)."""
    now = clock()
    with db.unit_of_work() as conn:
        pipeline = load_pipeline(conn, who, pipeline_id)
        current = _load(conn, pipeline_id, schedule_id, lock=True)
        fields = ScheduleFields(
            cron=current.cron,
            timezone=current.timezone,
            enabled=current.enabled,
            start_job_name=current.start_job_name,
            end_job_name=current.end_job_name,
            parameters=current.parameters,
            catchup=current.catchup,
        )
        fields = replace(fields, **changes)
        problems = _problems(conn, db, pipeline, fields, ("body",))
        if problems:
            raise InvalidInput(f"the schedule has {len(problems)} problem(s)", problems)
        values: dict[str, Any] = {**changes, "updated_at": now}
        if "parameters" in values:
            values["parameters"] = values["parameters"] or {}
        timing = {"cron", "timezone", "enabled"} & set(changes)
        if timing:
            cron = Cron(fields.cron, fields.timezone)
            values["next_fire_at"] = cron.next_after(now) if fields.enabled else None
        repo.update_fields(conn, schedule_id, **values)
        return _view(_load(conn, pipeline_id, schedule_id), now)


def delete(db: Database, who: Principal, pipeline_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
    with db.unit_of_work() as conn:
        load_pipeline(conn, who, pipeline_id)
        _load(conn, pipeline_id, schedule_id)
        repo.remove(conn, schedule_id)


def fire_due(db: Database, settings: Settings, now: dt.datetime) -> list[uuid.UUID]:
    """Start the run of every due tick (as each schedule's ``catchup`` says) and move each
    schedule on to its next tick; the ids of the runs started."""
    started: list[uuid.UUID] = []
    with db.unit_of_work(write=False) as conn:  # most passes find nothing: no write lock
        if not repo.due(conn, now, limit=1, skip_locked=False):
            return started
    while True:
        with db.unit_of_work() as conn:
            found = repo.due(conn, now, limit=BATCH, skip_locked=not db.is_sqlite)
            for schedule in found:
                started += _fire(conn, db, settings, schedule, now)
        if len(found) < BATCH:
            return started


def _fire(
    conn: Connection, db: Database, settings: Settings, schedule: ScheduleRecord, now: dt.datetime
) -> list[uuid.UUID]:
    assert schedule.next_fire_at is not None
    cron = Cron(schedule.cron, schedule.timezone)
    plan = due(cron, schedule.next_fire_at, now, schedule.catchup)
    started = []
    for tick in plan.ticks:
        run_id = _start_tick(conn, db, settings, schedule, tick, now)
        if run_id is not None:
            started.append(run_id)
    repo.update_fields(conn, schedule.id, next_fire_at=plan.next_fire_at)
    return started


def _start_tick(
    conn: Connection,
    db: Database,
    settings: Settings,
    schedule: ScheduleRecord,
    tick: dt.datetime,
    now: dt.datetime,
) -> uuid.UUID | None:
    """The run of one tick and its tick row, together or not at all (a savepoint). A tick
    already handled (by another worker) starts nothing; one that cannot start a run (the
    pipeline's inputs are missing, its parameters no longer fit) is recorded without one,
    and logged."""
    try:
        with conn.begin_nested():
            pipeline = pipelines_repo.get(conn, schedule.org_id, schedule.pipeline_id)
            version = _current(conn, db, pipeline) if pipeline else None
            if pipeline is None or version is None:
                raise NotFound("the pipeline has no version to run")
            trigger = {
                "type": "schedule",
                "schedule_id": str(schedule.id),
                "scheduled_for": tick.isoformat(),
            }
            parameters = runs.run_parameters(version, schedule.parameters)
            run = runs.start_run(
                conn,
                db,
                settings,
                pipeline,
                version,
                start=schedule.start_job_name,
                end=schedule.end_job_name,
                parameters=parameters,
                trigger=trigger,
            )
            repo.add_tick(conn, schedule.id, tick, run.id, now)
            return run.id
    except IntegrityError:
        return None  # this tick's run was started already
    except HeadraceError as err:
        log.warning("schedule %s: the tick at %s started no run: %s", schedule.id, tick, err)
        try:
            with conn.begin_nested():
                repo.add_tick(conn, schedule.id, tick, None, now)
        except IntegrityError:
            pass
        return None
