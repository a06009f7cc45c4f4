"""The event outbox: rows are written when their unit of work commits, read in the order
they committed even when their ids are not, and an outbox writer never deadlocks with a
transaction that holds a row it needs.

PostgreSQL once detected such deadlocks under two workers (a transaction holding the outbox
lock of that time waited on a run row locked by another that waited for the outbox lock);
each cost a second of ``deadlock_timeout`` and a failed transaction."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import insert, select, text, update

from headrace.persistence.db import Database
from headrace.persistence.repositories import events
from headrace.persistence.tables import run_events, runs
from tests.execution.support import wait_for
from tests.factories import Api, make_pipeline, make_run


def _event(api: Api, run: dict[str, str], new: str) -> events.NewEvent:
    return events.NewEvent(
        run_id=uuid.UUID(run["id"]),
        org_id=uuid.UUID(api.org_id),
        pipeline_id=uuid.UUID(run["pipeline_id"]),
        step=None,
        old="Pending",
        new=new,
        at=dt.datetime.now(dt.UTC),
    )


def _written(db: Database, run: dict[str, str]) -> list[str]:
    """The run's status changes in the order a consumer reads them."""
    # SQLite's writer numbers its rows as it commits; PostgreSQL's readers number them
    with db.unit_of_work(write=not db.is_sqlite) as conn:
        events.newest(conn)
        query = (
            select(run_events.c.new_status)
            .where(
                run_events.c.run_id == uuid.UUID(run["id"]), run_events.c.old_status.is_not(None)
            )
            .order_by(run_events.c.seq)
        )
        return list(conn.execute(query).scalars())


def test_events_are_written_at_commit_and_not_at_all_on_rollback(api: Api, db: Database) -> None:
    run = make_run(api, make_pipeline(api)["id"])
    with pytest.raises(RuntimeError), db.unit_of_work() as conn:
        events.append(conn, [_event(api, run, "Running")])
        raise RuntimeError("the unit of work fails")
    assert _written(db, run) == []
    with db.unit_of_work() as conn:
        events.append(conn, [_event(api, run, "Running")])
        assert _written(db, run) == []  # not yet visible: written as the unit commits
        events.append(conn, [_event(api, run, "Succeeded")])
    assert _written(db, run) == ["Running", "Succeeded"]


def _waiting_on_a_row(db: Database) -> bool:
    with db.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE runs%' AND datname = current_database()"
            )
        ).scalar()
    return bool(found)


def test_an_outbox_writer_never_waits_on_a_row_while_holding_the_outbox(
    api: Api, db: Database
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no lock is held across transactions")
    pipeline = make_pipeline(api)
    watched, contended = make_run(api, pipeline["id"]), make_run(api, pipeline["id"])
    holds_row, failures = threading.Event(), []
    lock_row = update(runs).where(runs.c.id == uuid.UUID(contended["id"]))

    def other() -> None:
        # Locks the contended run's row first, appends its event after the main thread waits on
        # that row: with the outbox lock taken at append time, this append would wait for the
        # main thread, which waits for this transaction's row.
        try:
            with db.unit_of_work() as conn:
                conn.execute(lock_row.values(worker_id="other"))
                holds_row.set()
                wait_for(lambda: _waiting_on_a_row(db), 20, "the main thread to wait on the row")
                events.append(conn, [_event(api, watched, "Failed")])
        except Exception as err:  # reported by the assertion below
            failures.append(err)

    thread = threading.Thread(target=other)
    thread.start()
    assert holds_row.wait(20)
    with db.unit_of_work() as conn:
        events.append(conn, [_event(api, watched, "Running")])
        conn.execute(lock_row.values(worker_id="main"))  # waits for the other transaction
    thread.join(30)
    assert failures == []
    assert _written(db, watched) == ["Failed", "Running"]  # in commit order


def test_a_row_that_took_a_smaller_id_but_committed_later_is_read_after_the_others(
    api: Api, db: Database
) -> None:
    """A consumer that has read past a row must still get a row whose transaction took its
    id earlier and committed later: read by id, it would be passed over for ever."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: its rows commit in id order")
    run = make_run(api, make_pipeline(api)["id"])
    with db.unit_of_work(write=False) as conn:
        start = events.newest(conn)
    slow_event = _event(api, run, "Running")
    with db.engine.connect() as slow:
        slow.begin()
        slow.execute(  # takes its id now, commits at the end of this test
            insert(run_events).values(
                run_id=slow_event.run_id,
                org_id=slow_event.org_id,
                pipeline_id=slow_event.pipeline_id,
                old_status=slow_event.old,
                new_status=slow_event.new,
                at=slow_event.at,
            )
        )
        with db.unit_of_work() as conn:
            events.append(conn, [_event(api, run, "Failed")])
        with db.unit_of_work() as conn:
            first = events.after(conn, start)
        assert [e.new for e in first] == ["Failed"]
        slow.commit()
    with db.unit_of_work() as conn:
        second = events.after(conn, first[-1].id)
        assert [e.new for e in second] == ["Running"]
        assert [e.new for e in events.of_run(conn, slow_event.run_id, start)] == [
            "Failed",
            "Running",
        ]
