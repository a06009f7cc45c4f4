"""A run's event stream ends only once it has sent every event of the ended run.

On PostgreSQL a change's events commit with it but get their place in the read order from
whichever reader places them next; while another reader is placing them, the run already
reads as ended and its last events are not yet readable. A stream that ended on the run's
status then lost them (seen in CI as a stream that closed after its first events)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from headrace.domain.runs import RunStatus, StepStatus
from headrace.persistence.db import Database
from headrace.persistence.repositories.events import NUMBERING_LOCK_KEY
from headrace.services.run_events import RunWatch
from tests.factories import Api, make_pipeline, make_run, move_run_to


def test_the_stream_waits_for_the_ended_runs_last_events_to_be_placed(
    api: Api, db: Database
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite's one writer places its events as it commits")
    run = make_run(api, make_pipeline(api)["id"])
    watch = RunWatch(db, uuid.UUID(run["id"]), cursor=None)
    (whole,) = watch.poll().changes
    assert whole.run.status == "Pending" and not watch.ended
    with db.engine.connect() as other, other.begin():
        # Another reader is placing events now, so this stream's reader places none.
        lock = text(f"SELECT pg_try_advisory_xact_lock({NUMBERING_LOCK_KEY})")
        assert other.execute(lock).scalar()
        done = StepStatus.SUCCEEDED
        steps = {"gen": done, "double": done, "total": done}
        move_run_to(db, run["id"], RunStatus.SUCCEEDED, steps)
        assert watch.poll().changes == []
        assert not watch.ended
    changes = watch.poll().changes
    assert [(c.step, c.run.status if c.step is None else None) for c in changes][-2:] == [
        ("total", None),
        (None, "Succeeded"),
    ]
    assert watch.ended and watch.status == "Succeeded"
    assert watch.poll().changes == []
