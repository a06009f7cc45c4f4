"""Dataset triggers: create, list, delete, refuse loops, and the pass that starts their runs.

The pass reads the catalog's current versions (``datasets.current_version``, which an upload,
an upsert and a step's output all move), not the outbox: a trigger compares them with the
versions it last consumed, so a version committed while no worker ran is seen at the next
pass, and a restart loses nothing. Exactly one run per window rests on the database: the
trigger's row is read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (one worker evaluates it at a
time), and its new consumed versions are written in the transaction that inserts the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from headrace.domain.access import Principal
from headrace.domain.records import TriggerRecord
from headrace.domain.triggers import check, evaluate
from headrace.errors import HeadraceError, InvalidInput, NotFound
from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import triggers as repo
from headrace.services import runs
from headrace.services.clock import utcnow
from headrace.services.pipelines import load as load_pipeline
from headrace.services.trigger_loops import loop_problems
from headrace.settings import Settings

log = logging.getLogger("headrace.scheduler")

BATCH = 500  # triggers evaluated per transaction


@dataclass(frozen=True)
class TriggerFields:
    datasets: list[str]
    mode: str = "any"
    debounce_seconds: float = 10.0


def create(
    db: Database, who: Principal, pipeline_id: uuid.UUID, fields: TriggerFields
) -> TriggerRecord:
    problems = check(fields.datasets, fields.mode, fields.debounce_seconds, ("body",))
    now = utcnow()
    with db.unit_of_work() as conn:
        pipeline = load_pipeline(conn, who, pipeline_id, lock=True)
        if not problems:
            problems = loop_problems(conn, pipeline, ("body",), triggered_by=set(fields.datasets))
        if problems:
            raise InvalidInput(f"the trigger has {len(problems)} problem(s)", problems)
        current = datasets_repo.current_versions(conn, pipeline.org_id, fields.datasets)
        trigger = TriggerRecord(
            id=uuid.uuid4(),
            org_id=pipeline.org_id,
            pipeline_id=pipeline.id,
            datasets=list(fields.datasets),
            mode=fields.mode,
            debounce_seconds=float(fields.debounce_seconds),
            consumed={d: current.get(d) for d in fields.datasets},
            pending_since=None,
            created_at=now,
        )
        repo.add(conn, trigger)
    return trigger


def list_for_pipeline(db: Database, who: Principal, pipeline_id: uuid.UUID) -> list[TriggerRecord]:
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        return repo.of_pipeline(conn, pipeline_id)


def delete(db: Database, who: Principal, pipeline_id: uuid.UUID, trigger_id: uuid.UUID) -> None:
    with db.unit_of_work() as conn:
        load_pipeline(conn, who, pipeline_id)
        if repo.get(conn, pipeline_id, trigger_id) is None:
            raise NotFound(f"there is no trigger {trigger_id} of this pipeline")
        repo.remove(conn, trigger_id)


def fire_due(db: Database, settings: Settings, now: dt.datetime) -> list[uuid.UUID]:
    """Evaluate every trigger at ``now``: open debounce windows, start the runs of those
    whose window has closed; the ids of the runs started."""
    started: list[uuid.UUID] = []
    with db.unit_of_work(write=False) as conn:  # a store without triggers: no write lock
        if not repo.batch(conn, after=None, limit=1, skip_locked=False):
            return started
    after: uuid.UUID | None = None
    while True:
        with db.unit_of_work() as conn:
            found = repo.batch(conn, after=after, limit=BATCH, skip_locked=not db.is_sqlite)
            by_org: dict[uuid.UUID, set[str]] = {}
            for t in found:
                by_org.setdefault(t.org_id, set()).update(t.datasets)
            current = {
                org: datasets_repo.current_versions(conn, org, sorted(names))
                for org, names in by_org.items()
            }
            for trigger in found:
                run_id = _pass(conn, db, settings, trigger, current[trigger.org_id], now)
                if run_id is not None:
                    started.append(run_id)
        if len(found) < BATCH:
            return started
        after = found[-1].id


def _pass(
    conn: Connection,
    db: Database,
    settings: Settings,
    trigger: TriggerRecord,
    current: dict[str, int],
    now: dt.datetime,
) -> uuid.UUID | None:
    firing = evaluate(
        trigger.datasets,
        trigger.mode,
        dt.timedelta(seconds=trigger.debounce_seconds),
        trigger.consumed,
        current,
        trigger.pending_since,
        now,
    )
    if firing.start is None:
        if firing.pending_since != trigger.pending_since:
            repo.settle(conn, trigger.id, consumed=None, pending_since=firing.pending_since)
        return None
    consumed: dict[str, int | None] = {d: current.get(d) for d in trigger.datasets}
    repo.settle(conn, trigger.id, consumed=consumed, pending_since=None)
    try:
        with conn.begin_nested():
            pipeline = pipelines_repo.get(conn, trigger.org_id, trigger.pipeline_id)
            version_id = pipeline.current_version_id if pipeline else None
            version = (
                pipelines_repo.version(conn, trigger.pipeline_id, version_id, db.versions)
                if version_id
                else None
            )
            if pipeline is None or version is None:
                raise NotFound("the pipeline has no version to run")
            run = runs.start_run(
                conn,
                db,
                settings,
                pipeline,
                version,
                start=None,
                end=None,
                parameters=runs.run_parameters(version, {}),
                trigger={
                    "type": "dataset",
                    "trigger_id": str(trigger.id),
                    "dataset_versions": firing.start,
                },
            )
            return run.id
    except HeadraceError as err:
        log.warning("trigger %s started no run: %s", trigger.id, err)
        return None
