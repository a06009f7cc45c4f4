"""Which executor a worker follows its runs on, from the settings: the one place that knows
both backends (``HEADRACE_EXECUTOR``), so the worker itself knows neither."""

from __future__ import annotations

from headrace.domain.dag import Dag
from headrace.domain.records import RunRecord
from headrace.execution.base import Executor
from headrace.execution.doorbell import Doorbell
from headrace.execution.local import LocalExecutor
from headrace.execution.step import StepRunner
from headrace.persistence.db import Database
from headrace.services.graphs import VersionGraphs
from headrace.services.step_store import DatabaseStepStore
from headrace.services.worker import Worker
from headrace.settings import Settings


def local_executor(db: Database, settings: Settings, graphs: VersionGraphs) -> LocalExecutor:
    def graph_of(run: RunRecord) -> Dag:
        with db.unit_of_work(write=False) as conn:
            return graphs.get(conn, run.version_id)

    return LocalExecutor(
        StepRunner(DatabaseStepStore(db, graphs), settings),
        graph_of,
        max_parallel_steps=settings.max_parallel_steps,
        wait_seconds=min(1.0, settings.lease_seconds / 3),
    )


def executor_for(db: Database, settings: Settings) -> Executor:
    if settings.executor == "argo":
        from headrace.execution.argo.client import ArgoClient
        from headrace.execution.argo.executor import ArgoExecutor

        return ArgoExecutor(lambda: ArgoClient.from_settings(settings), settings.argo_poll_seconds)
    return local_executor(db, settings, VersionGraphs())


def open_worker(
    db: Database,
    settings: Settings,
    *,
    doorbell: Doorbell | None = None,
    worker_id: str | None = None,
) -> Worker:
    """A worker on the executor the settings name."""
    return Worker(db, settings, executor_for(db, settings), doorbell=doorbell, worker_id=worker_id)
