"""The scheduler with an injected clock: each tick starts one run, whatever the number of
schedulers ticking at once; ``$scheduled_for`` is the tick's time."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest

from headrace.domain.records import RunRecord
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.repositories import schedules as schedules_repo
from headrace.runtime import Runtime
from headrace.services import keys, schedules
from headrace.services.scheduler import Scheduler
from headrace.services.schedules import ScheduleFields
from headrace.settings import Settings
from tests.execution.support import dataset_rows, execute
from tests.factories import Api, make_pipeline, make_step
from tests.services.scheduling import Clock, alone  # noqa: F401

START = dt.datetime(2100, 1, 1, 0, 30, tzinfo=dt.UTC)  # never due for a real clock


pytestmark = pytest.mark.usefixtures("alone")  # only this test's schedules tick


def _schedule(api: Api, db: Database, pipeline_id: str, clock: Clock, **fields: Any) -> uuid.UUID:
    who = keys.authenticate(db, api.key, None)
    view = schedules.create(db, who, uuid.UUID(pipeline_id), ScheduleFields(**fields), clock)
    return view.schedule.id


def _runs_of(db: Database, pipeline_id: str) -> list[RunRecord]:
    with db.unit_of_work(write=False) as conn:
        heads = runs_repo.heads_for_pipeline(
            conn, uuid.UUID(pipeline_id), version_id=None, statuses=[], after=None, limit=1000
        ).heads
        return runs_repo.get_many(conn, [h.id for h in heads])


def test_a_tick_starts_one_run_that_binds_scheduled_for(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    db = runtime.db
    pipeline = make_pipeline(api, [make_step("s", "SELECT $scheduled_for AS t", [], ["ticks"])])
    clock = Clock(START)
    schedule_id = _schedule(api, db, pipeline["id"], clock, cron="0 * * * *")
    scheduler = Scheduler(db, settings, clock=clock)
    clock.now = START + dt.timedelta(minutes=29)
    assert scheduler.tick() == []
    clock.now = START + dt.timedelta(minutes=30, seconds=5)
    [run_id] = scheduler.tick()
    assert scheduler.tick() == []  # the same tick, again: nothing
    [run] = _runs_of(db, pipeline["id"])
    tick = dt.datetime(2100, 1, 1, 1, tzinfo=dt.UTC)
    assert run.id == run_id
    assert run.trigger == {
        "type": "schedule",
        "schedule_id": str(schedule_id),
        "scheduled_for": tick.isoformat(),
    }
    assert str(execute(runtime, run_id)) == "Succeeded"
    assert dataset_rows(db, settings, api.org_id, "ticks") == [(tick,)]


def test_schedulers_ticking_at_once_start_one_run_per_tick(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    db = runtime.db
    pipeline = make_pipeline(api)
    clock = Clock(START)
    schedule_id = _schedule(api, db, pipeline["id"], clock, cron="* * * * *", catchup="all")
    clock.now = START + dt.timedelta(minutes=6, seconds=30)
    schedulers = [Scheduler(db, settings, clock=clock) for _ in range(4)]
    barrier = threading.Barrier(len(schedulers))
    started: list[uuid.UUID] = []

    def tick(scheduler: Scheduler) -> None:
        barrier.wait()
        started.extend(scheduler.tick())

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = _runs_of(db, pipeline["id"])
    assert len(runs) == len(started) == 6
    assert sorted(r.trigger["scheduled_for"] for r in runs) == [
        (START + dt.timedelta(minutes=m)).isoformat() for m in range(1, 7)
    ]
    with db.unit_of_work(write=False) as conn:
        assert len(schedules_repo.ticks(conn, schedule_id)) == 6


def test_catchup_latest_starts_only_the_newest_missed_tick(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    db = runtime.db
    pipeline = make_pipeline(api)
    clock = Clock(START)
    _schedule(api, db, pipeline["id"], clock, cron="*/10 * * * *")
    clock.now = START + dt.timedelta(hours=3, minutes=5)  # down for three hours
    assert len(Scheduler(db, settings, clock=clock).tick()) == 1
    [run] = _runs_of(db, pipeline["id"])
    assert run.trigger["scheduled_for"] == (START + dt.timedelta(hours=3)).isoformat()


def test_a_tick_that_cannot_start_a_run_is_recorded_and_passed(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    db = runtime.db
    pipeline = make_pipeline(api, [make_step("s", "SELECT * FROM missing", ["missing"], ["o"])])
    clock = Clock(START)
    schedule_id = _schedule(api, db, pipeline["id"], clock, cron="0 * * * *")
    clock.now = START + dt.timedelta(hours=1)
    assert Scheduler(db, settings, clock=clock).tick() == []
    with db.unit_of_work(write=False) as conn:
        assert [run for _, run in schedules_repo.ticks(conn, schedule_id)] == [None]
    assert _runs_of(db, pipeline["id"]) == []
