"""What ``/metrics`` reports from the metadata store: runs, steps, durations, workers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from headrace.persistence.db import Database
from headrace.persistence.repositories import stats
from headrace.services.clock import utcnow

# Upper bounds (seconds) of the duration histograms: from sub-second steps to hour-long ones.
DURATION_BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True)
class Histogram:
    bounds: tuple[float, ...]
    cumulative: list[int]  # observations <= each bound
    count: int
    sum: float


@dataclass(frozen=True)
class Worker:
    worker_id: str
    last_heartbeat: dt.datetime
    active: bool  # its lease has not expired


@dataclass(frozen=True)
class StoreMetrics:
    runs_by_status: dict[str, int]
    steps_by_status: dict[str, int]
    step_seconds: Histogram
    queue_wait_seconds: Histogram
    workers: list[Worker]
    reused_steps: int = 0  # steps Skipped because an earlier result was reused
    saved_seconds: float = 0.0  # what those results took to compute


def collect(db: Database, lease_seconds: float) -> StoreMetrics:
    """One read transaction of a few aggregate queries. A worker's heartbeat is not stored as
    such: it is the moment it last extended its lease, ``lease_expires_at - lease_seconds``."""
    now = utcnow()
    lease = dt.timedelta(seconds=lease_seconds)
    with db.unit_of_work(write=False) as conn:
        runs = stats.runs_by_status(conn)
        steps = stats.steps_by_status(conn)
        durations = Histogram(DURATION_BOUNDS, *stats.step_durations(conn, DURATION_BOUNDS))
        waits = Histogram(DURATION_BOUNDS, *stats.queue_waits(conn, DURATION_BOUNDS))
        leases = stats.worker_leases(conn)
        reused, saved = stats.reuse(conn)
    workers = [
        Worker(worker_id=w, last_heartbeat=until - lease, active=until > now)
        for w, until in sorted(leases.items())
    ]
    return StoreMetrics(runs, steps, durations, waits, workers, reused, saved)
