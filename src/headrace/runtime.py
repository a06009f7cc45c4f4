"""Everything long-lived one headrace process holds, in one object built from ``Settings``.

A server, a worker, ``headrace run`` and an Argo step pod each build one ``Runtime`` at start
and hand it down (``create_app(settings, runtime)``, the worker, the services that touch the
warehouse, the step runner); nothing long-lived lives in a module. ``close()`` ends what it
owns, once and in order: the step processes kept ready, then the background work on Delta
tables (so a checkpoint left to it is written before the process exits), then the service's
DuckDB database, then the metadata store's connections. Two runtimes in one process share
nothing, which is also what lets a test build one per case.
"""

from __future__ import annotations

import threading
from types import TracebackType

from headrace.execution.step_process import ReadyProcesses
from headrace.persistence.db import Database
from headrace.services.ended_runs import EndedRuns
from headrace.services.graphs import VersionGraphs
from headrace.settings import Settings
from headrace.storage.duck import ServiceDuck
from headrace.storage.snapshots import TableCache
from headrace.storage.warehouse import Warehouse


class Runtime:
    """The metadata store, the warehouse, the step processes, the service's DuckDB database
    and the caches of one process.

    - ``db``: the metadata store (with the pipeline versions it has read, ``db.versions``);
      a ``db`` handed in stays its giver's to dispose of.
    - ``warehouse``: where the dataset tables live (and the object store serving them).
    - ``steps``: the step processes kept ready (``execution/step_process.py``), started by
      the first step, or at once for a worker; a pool handed in (``headrace run`` starts one
      before its imports, an Argo pod's keeps none) stays its giver's to close, like ``db``.
    - ``duck``: the trusted DuckDB database of uploads, previews and downloads.
    - ``tables``: Delta snapshots and write bases (``storage/snapshots.py``).
    - ``graphs``: the step graphs of pipeline versions (``services/graphs.py``).
    - ``ended_runs``: the JSON of ended runs served by the API.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        *,
        steps: ReadyProcesses | None = None,
    ) -> None:
        self.settings = settings
        self._owns_db = db is None
        self._owns_steps = steps is None
        self.db = db if db is not None else Database(settings.effective_database_url)
        self.warehouse = Warehouse.from_settings(settings)
        self.steps = steps if steps is not None else ReadyProcesses()
        self.duck = ServiceDuck(settings.service_memory_limit)
        self.tables = TableCache()
        self.graphs = VersionGraphs(self.db.versions)
        self.ended_runs = EndedRuns()
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database | None = None,
        *,
        steps: ReadyProcesses | None = None,
        worker: bool = False,
    ) -> Runtime:
        """The runtime of ``settings`` (see the class); for a ``worker`` of the local
        executor the step processes start booting now, so its first step need not wait."""
        runtime = cls(settings, db, steps=steps)
        if worker and settings.executor == "local":
            runtime.steps.start()
        return runtime

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End everything this runtime owns; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._owns_steps:
                self.steps.close()
            self.tables.close()
        finally:
            self.duck.close()
            if self._owns_db:
                self.db.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
