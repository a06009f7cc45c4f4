"""Schedules (issue 15): how long a due tick takes to become a Running run, and what 1,000
schedules cost one worker per minute.

In-process on SQLite, with the scheduler's clock injected so a tick is due the moment the
bench says so. Tick → Running: a worker serves in a thread (scheduler pass every
``HEADRACE_SCHEDULER_POLL_SECONDS``, 1 s by default, then the doorbell and the claim),
against the same worker picking up a run created by hand and rung for. CPU per minute: the
process CPU of the passes of one simulated minute with 1,000 schedules, all idle (60
passes, nothing due) and all due (each starts one run), against creating the same 1,000
runs directly with the runs service.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.stats import Figure
from headrace.domain.access import Principal, Role
from headrace.domain.pipeline import DataTransform, Step
from headrace.domain.runs import RunStatus
from headrace.persistence.db import Database
from headrace.persistence.migrate import upgrade
from headrace.persistence.repositories import runs as runs_repo
from headrace.runtime import Runtime
from headrace.services import keys, pipelines, runs, schedules
from headrace.services.executors import open_worker
from headrace.services.scheduler import Scheduler
from headrace.services.schedules import ScheduleFields
from headrace.settings import Settings

STEP = Step("one", DataTransform("SELECT 1 AS n", (), ("one",)))
T0 = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


class _Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _status(db: Database, run_id: uuid.UUID) -> str | None:
    with db.unit_of_work(write=False) as conn:
        return runs_repo.run_status(conn, run_id)


def _until_running(db: Database, started: float, find: Any) -> float:
    """Seconds from ``started`` until the run ``find`` finds has left Pending."""
    run_id = find()
    while run_id is None:
        time.sleep(0.002)
        run_id = find()
    while _status(db, run_id) == RunStatus.PENDING:
        time.sleep(0.002)
    return time.perf_counter() - started


def _latency(rt: Runtime, who: Principal, count: int) -> tuple[list[float], list[float]]:
    db, settings = rt.db, rt.settings
    pipeline = pipelines.create(db, who, f"tick-{uuid.uuid4().hex[:6]}", "", [STEP])
    pipeline_id = pipeline.pipeline.id
    clock = _Clock(T0)
    schedules.create(db, who, pipeline_id, ScheduleFields(cron="* * * * *"), clock)
    worker = open_worker(rt)
    worker.scheduler.clock = clock
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    ticked: list[float] = []
    manual: list[float] = []
    known: set[uuid.UUID] = set()
    try:
        for minute in range(1, count + 1):
            started = time.perf_counter()
            clock.now = T0 + dt.timedelta(minutes=minute)
            ticked.append(_until_running(db, started, lambda: _newest(db, pipeline_id, known)))
            _wait_idle(db, pipeline_id)
            started = time.perf_counter()
            view = runs.create(
                db, settings, who, pipeline_id, start=None, end=None, version_id=None
            )
            known.add(view.run.id)
            worker.doorbell.ring()
            manual.append(_until_running(db, started, lambda v=view: v.run.id))
            _wait_idle(db, pipeline_id)
    finally:
        worker.stop()
        thread.join(timeout=30)
    return ticked, manual


def _newest(db: Database, pipeline_id: uuid.UUID, known: set[uuid.UUID]) -> uuid.UUID | None:
    """The pipeline's newest run if it is one not seen before (then it is known)."""
    with db.unit_of_work(write=False) as conn:
        heads = runs_repo.heads_for_pipeline(
            conn, pipeline_id, version_id=None, statuses=[], after=None, limit=1
        ).heads
    if not heads:
        return None
    newest = heads[0].id
    if newest in known:
        return None
    known.add(newest)
    return newest


def _wait_idle(db: Database, pipeline_id: uuid.UUID) -> None:
    while True:
        with db.unit_of_work(write=False) as conn:
            if not runs_repo.has_active(conn, pipeline_id):
                return
        time.sleep(0.01)


def _cpu(rt: Runtime, who: Principal, count: int) -> tuple[float, float, float]:
    """CPU seconds of: one minute of idle passes over ``count`` schedules, one pass starting
    a run for each, and creating as many runs with the runs service."""
    db, settings = rt.db, rt.settings
    pipeline = pipelines.create(db, who, f"cpu-{uuid.uuid4().hex[:6]}", "", [STEP])
    clock = _Clock(T0)
    for _ in range(count):
        schedules.create(db, who, pipeline.pipeline.id, ScheduleFields(cron="* * * * *"), clock)
    scheduler = Scheduler(db, settings, clock=clock)
    clock.now = T0 + dt.timedelta(seconds=1)
    started = time.process_time()
    for second in range(60):  # a minute of passes, one a second: nothing is due
        clock.now = T0 + dt.timedelta(seconds=second)
        scheduler.tick()
    idle = time.process_time() - started
    clock.now = T0 + dt.timedelta(minutes=1, seconds=1)
    started = time.process_time()
    fired = scheduler.tick()
    due = time.process_time() - started
    assert len(fired) == count, len(fired)
    started = time.process_time()
    for _ in range(count):
        runs.create(db, settings, who, pipeline.pipeline.id, start=None, end=None, version_id=None)
    direct = time.process_time() - started
    return idle, due, direct


def measure(quick: bool) -> dict[str, Any]:
    ticks = 5 if quick else 20
    count = 200 if quick else 1000
    with tempfile.TemporaryDirectory(prefix="headrace-bench-sched-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'headrace.db'}"
        settings = Settings(data_dir=Path(tmp) / "data", database_url=url, run_worker=False)
        db = Database(url)
        upgrade(db.engine)
        org = keys.create_org(db, "bench")
        who = Principal(org.record.org_id, org.record.id, Role.ADMIN)
        try:
            with Runtime(settings, db) as rt:
                ticked, manual = _latency(rt, who, ticks)
                idle, due, direct = _cpu(rt, who, count)
        finally:
            db.dispose()
    by_hand = Figure("run created by hand → Running", manual, "s")
    tick = Figure(
        f"tick → Running (scheduler every {settings.scheduler_poll_seconds:g} s)", ticked, "s"
    )
    direct_fig = Figure(f"{count:,} runs created with the runs service (CPU)", [direct], "s")
    due_fig = Figure(f"{count:,} schedules all due: the minute's pass (CPU)", [due], "s")
    idle_fig = Figure(f"{count:,} schedules idle: a minute of passes (CPU)", [idle], "s")
    return {
        "title": f"Schedules: tick to Running, and {count:,} schedules on one worker (SQLite)",
        "figures": [
            by_hand.as_dict(None),
            tick.as_dict(by_hand),
            direct_fig.as_dict(None),
            due_fig.as_dict(direct_fig),
            idle_fig.as_dict(direct_fig),
        ],
    }
