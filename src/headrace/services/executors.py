"""Which executor a worker follows its runs on, from the settings: the one place that knows
both backends (``HEADRACE_EXECUTOR``), so the worker itself knows neither."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headrace.domain.dag import Dag
from headrace.domain.records import RunRecord
from headrace.execution.base import Executor
from headrace.execution.doorbell import Doorbell
from headrace.execution.local import LocalExecutor
from headrace.execution.step import StepRunner
from headrace.services.step_store import DatabaseStepStore
from headrace.services.worker import Worker

if TYPE_CHECKING:
    from headrace.runtime import Runtime


def local_executor(runtime: Runtime) -> LocalExecutor:
    """Runs steps here, in the runtime's step processes, over its warehouse and caches."""
    db, settings, graphs = runtime.db, runtime.settings, runtime.graphs

    def graph_of(run: RunRecord) -> Dag:
        with db.unit_of_work(write=False) as conn:
            return graphs.get(conn, run.version_id)

    return LocalExecutor(
        StepRunner(
            DatabaseStepStore(db, graphs, storage_quota=settings.org_storage_quota_bytes),
            runtime,
        ),
        graph_of,
        max_parallel_steps=settings.max_parallel_steps,
        wait_seconds=min(1.0, settings.lease_seconds / 3),
    )


def executor_for(runtime: Runtime) -> Executor:
    settings = runtime.settings
    if settings.executor == "argo":
        from headrace.execution.argo.client import ArgoClient
        from headrace.execution.argo.executor import ArgoExecutor

        return ArgoExecutor(lambda: ArgoClient.from_settings(settings), settings.argo_poll_seconds)
    return local_executor(runtime)


def open_worker(
    runtime: Runtime,
    *,
    doorbell: Doorbell | None = None,
    worker_id: str | None = None,
) -> Worker:
    """A worker on the executor the runtime's settings name."""
    return Worker(
        runtime.db,
        runtime.settings,
        executor_for(runtime),
        doorbell=doorbell,
        worker_id=worker_id,
    )
