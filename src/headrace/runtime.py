"""Everything long-lived one headrace process holds, in one object built from ``Settings``.

A server, a worker, ``headrace run`` and an Argo step pod each build one ``Runtime`` at start
and hand it down (``create_app(settings, runtime)``, the worker, the services that touch the
warehouse); nothing long-lived lives in a module. ``close()`` ends what it owns, once and in
order: the background work on Delta tables first (so a checkpoint left to it is written
before the process exits), then the service's DuckDB database, then the metadata store's
connections. Two runtimes in one process share nothing, which is also what lets a test build
one per case.
"""

from __future__ import annotations

import threading
from types import TracebackType

from headrace.persistence.db import Database
from headrace.services.ended_runs import EndedRuns
from headrace.settings import Settings
from headrace.storage.duck import ServiceDuck
from headrace.storage.snapshots import TableCache
from headrace.storage.warehouse import Warehouse


class Runtime:
    """The metadata store, the warehouse, the service's DuckDB database and the caches of
    one process.

    - ``db``: the metadata store (with the pipeline versions it has read, ``db.versions``);
      a ``db`` handed in stays its giver's to dispose of.
    - ``warehouse``: where the dataset tables live (and the object store serving them).
    - ``duck``: the trusted DuckDB database of uploads, previews and downloads.
    - ``tables``: Delta snapshots and write bases (``storage/snapshots.py``).
    - ``ended_runs``: the JSON of ended runs served by the API.
    """

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self._owns_db = db is None
        self.db = db if db is not None else Database(settings.effective_database_url)
        self.warehouse = Warehouse.from_settings(settings)
        self.duck = ServiceDuck(settings.service_memory_limit)
        self.tables = TableCache()
        self.ended_runs = EndedRuns()
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, settings: Settings, db: Database | None = None) -> Runtime:
        """The runtime of ``settings`` (see the class)."""
        return cls(settings, db)

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
