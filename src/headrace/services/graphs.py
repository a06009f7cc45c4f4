"""The step graph of a pipeline version, built once and kept for the next steps.

Versions never change. Every step of a run needs its version's graph (its inputs' writers),
and building it is linear in the version's steps: built per step, a 10,000-step run would
spend quadratic time on it.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

from sqlalchemy import Connection

from headrace.domain.dag import Dag
from headrace.domain.pipeline import step_from_dict
from headrace.persistence.repositories import pipelines as pipelines_repo


class VersionGraphs:
    """The graphs of the ``kept`` most recently used versions, shared by a worker's threads."""

    def __init__(self, kept: int = 8) -> None:
        self.kept = kept
        self._graphs: OrderedDict[uuid.UUID, Dag] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: Connection, version_id: uuid.UUID) -> Dag:
        """The graph of a pipeline version (read in ``conn`` unless kept)."""
        with self._lock:
            if version_id in self._graphs:
                self._graphs.move_to_end(version_id)
                return self._graphs[version_id]
        version = pipelines_repo.versions_by_id(conn, [version_id])[version_id]
        dag = Dag.build([step_from_dict(s.name, s.config) for s in version.steps])
        with self._lock:
            self._graphs[version_id] = dag
            while len(self._graphs) > self.kept:
                self._graphs.popitem(last=False)
        return dag
