"""Exactly one run per tick with real worker processes on PostgreSQL: two workers ticking
the same schedules at once, and a worker killed (SIGKILL) in the middle of a tick's
transaction, whose successor starts every tick the killed one did not commit."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from headrace.api.app import create_app
from headrace.persistence import tables
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services import keys, schedules
from headrace.services.schedules import ScheduleFields
from headrace.settings import Settings
from tests.execution.support import wait_for
from tests.factories import Api, make_org, make_pipeline, make_step
from tests.services.scheduling import Clock

TICKS = 150  # per schedule: more than one pass's worth (MAX_TICKS_PER_PASS)


@pytest.fixture
def store(own_database: str, tmp_path: Path) -> Iterator[tuple[Api, Runtime]]:
    if own_database.startswith("sqlite"):
        pytest.skip("worker processes share a store on PostgreSQL")
    settings = Settings(data_dir=tmp_path / "data", database_url=own_database, run_worker=False)
    db = Database(own_database)
    try:
        with (
            Runtime(settings, db) as rt,
            TestClient(create_app(settings, rt), raise_server_exceptions=False) as client,
        ):
            yield make_org(client, db), rt
    finally:
        db.dispose()


def _worker(runtime: Runtime, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HEADRACE_DATABASE_URL": runtime.settings.effective_database_url,
        "HEADRACE_DATA_DIR": str(runtime.settings.data_dir),
        "HEADRACE_SCHEDULER_POLL_SECONDS": "0.05",
        "HEADRACE_WORKER_POLL_SECONDS": "0.5",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "headrace.cli.main", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _missed_ticks(api: Api, runtime: Runtime, schedules_count: int) -> None:
    """Schedules that have missed ``TICKS`` minutes of ticks, to be caught up in full."""
    pipeline = make_pipeline(api, [make_step("s", "SELECT 1 AS n", [], ["one"])])
    who = keys.authenticate(runtime.db, api.key, None)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    clock = Clock(now - dt.timedelta(minutes=TICKS + 0.5))
    for _ in range(schedules_count):
        fields = ScheduleFields(cron="* * * * *", catchup="all")
        schedules.create(runtime.db, who, uuid.UUID(pipeline["id"]), fields, clock)


def _counts(db: Database) -> tuple[int, int, int]:
    """(ticks handled, runs of schedules, distinct (schedule, tick) among those runs)."""
    with db.unit_of_work(write=False) as conn:
        ticks = conn.execute(select(func.count()).select_from(tables.schedule_ticks)).scalar_one()
        triggers = [t for t in conn.execute(select(tables.runs.c.trigger)).scalars() if t]
    keyed = {(t["schedule_id"], t["scheduled_for"]) for t in triggers if t["type"] == "schedule"}
    return int(ticks), len(triggers), len(keyed)


def _check_exactly_once(db: Database, expected: int) -> None:
    """Every tick handled once, with its own run, and no minute of any schedule missed (the
    real clock goes on ticking meanwhile, so there may be more than ``expected``)."""
    ticks, runs, distinct = _counts(db)
    assert ticks == runs == distinct and ticks >= expected
    with db.unit_of_work(write=False) as conn:
        rows = conn.execute(
            select(tables.schedule_ticks.c.schedule_id, tables.schedule_ticks.c.scheduled_for)
        ).all()
    by_schedule: dict[uuid.UUID, list[dt.datetime]] = {}
    for schedule_id, at in rows:
        by_schedule.setdefault(schedule_id, []).append(at)
    for times in by_schedule.values():
        times.sort()
        assert all(b - a == dt.timedelta(minutes=1) for a, b in itertools.pairwise(times))


def _stop(*workers: subprocess.Popen[bytes]) -> None:
    for w in workers:
        w.kill()
        w.wait()


def test_two_worker_processes_start_one_run_per_tick(
    store: tuple[Api, Runtime], tmp_path: Path
) -> None:
    api, runtime = store
    _missed_ticks(api, runtime, schedules_count=4)
    expected = 4 * (TICKS + 1)
    workers = [_worker(runtime, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        wait_for(
            lambda: _counts(runtime.db)[0] >= expected,
            timeout=120,
            what="the workers to handle every tick",
        )
    finally:
        _stop(*workers)
    _check_exactly_once(runtime.db, expected)


def _mid_tick(db: Database) -> bool:
    """Whether a worker's transaction is inserting ticks and runs right now."""
    with db.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'schedule_ticks' AND l.mode = 'RowExclusiveLock' "
                "AND l.pid <> pg_backend_pid()"
            )
        ).scalar_one()
    return bool(found)


def test_a_worker_killed_mid_tick_loses_and_doubles_nothing(
    store: tuple[Api, Runtime], tmp_path: Path
) -> None:
    api, runtime = store
    _missed_ticks(api, runtime, schedules_count=3)
    expected = 3 * (TICKS + 1)
    first = _worker(runtime, tmp_path / "killed.log")
    try:
        wait_for(lambda: _mid_tick(runtime.db), timeout=60, what="a tick's transaction")
    finally:
        _stop(first)
    assert first.returncode == -9
    killed_at = _counts(runtime.db)
    assert killed_at[0] < expected  # the kill came before the last tick
    second = _worker(runtime, tmp_path / "successor.log")
    try:
        wait_for(
            lambda: _counts(runtime.db)[0] >= expected,
            timeout=120,
            what="the successor to handle every tick",
        )
    finally:
        _stop(second)
    _check_exactly_once(runtime.db, expected)
