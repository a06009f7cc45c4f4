"""Helpers of the scheduler tests: a clock moved by hand, and a store without other tests'
schedules and triggers (a scheduler's pass handles every one of the store)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from headrace.persistence import tables
from headrace.persistence.db import Database
from headrace.persistence.repositories import schedules as schedules_repo


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def clear_scheduled(db: Database) -> None:
    with db.unit_of_work() as conn:
        for schedule_id in conn.execute(select(tables.schedules.c.id)).scalars().all():
            schedules_repo.remove(conn, schedule_id)
        conn.execute(delete(tables.dataset_triggers))


@pytest.fixture
def alone(db: Database) -> Iterator[None]:
    """Other tests' schedules and triggers go before the test, its own after."""
    clear_scheduled(db)
    yield
    clear_scheduled(db)
