"""What a step records of itself through the step store: a worker that lost its lease cannot
end the step its successor runs again."""

from __future__ import annotations

import datetime as dt
import uuid

from headrace.domain.access import Principal, Role
from headrace.domain.runs import StepStatus
from headrace.execution.base import StepEnd
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.services import runs as runs_service
from headrace.services.graphs import VersionGraphs
from headrace.services.lifecycle import Lifecycle
from headrace.services.step_store import DatabaseStepStore
from headrace.settings import Settings
from tests.factories import Api, make_pipeline


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _status(db: Database, run_id: uuid.UUID, step: str) -> str:
    with db.unit_of_work(write=False) as conn:
        return runs_repo.step_statuses(conn, run_id, [step])[step][0]


def test_a_step_ended_by_a_worker_that_lost_its_lease_is_not_recorded(
    api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(api)
    who = Principal(org_id=uuid.UUID(api.org_id), key_id=uuid.uuid4(), role=Role.BUILDER)
    run = runs_service.create(
        db, settings, who, uuid.UUID(pipeline["id"]), start=None, end=None, version_id=None
    ).run
    clock = Clock()
    lifecycle = Lifecycle(db, clock)
    store = DatabaseStepStore(db, VersionGraphs(db.versions), lifecycle=lifecycle)
    step = run.steps[0].name
    assert lifecycle.claim("first", 30, skip_locked=not db.is_sqlite, only=run.id)
    first = store.begin(run.id, step, "started")
    clock.now += dt.timedelta(seconds=31)  # the first worker's lease expires
    assert lifecycle.claim("second", 30, skip_locked=not db.is_sqlite, only=run.id)
    assert _status(db, run.id, step) == StepStatus.PENDING
    second = store.begin(run.id, step, "started again")
    assert second.started_at != first.started_at

    store.end(first, StepEnd(StepStatus.SUCCEEDED))  # the first worker, late
    assert _status(db, run.id, step) == StepStatus.RUNNING
    store.end(second, StepEnd(StepStatus.FAILED, error="boom"))
    assert _status(db, run.id, step) == StepStatus.FAILED
