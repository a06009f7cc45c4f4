"""The step graph of a pipeline version, built once and kept for the next steps.

Versions never change. Every step of a run needs its version's graph (its inputs' writers),
and building it is linear in the version's steps: built per step, a 10,000-step run would
spend quadratic time on it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from headrace.caching import Cache
from headrace.domain.dag import Dag
from headrace.domain.pipeline import step_from_dict
from headrace.persistence.repositories import pipelines as pipelines_repo


class VersionGraphs:
    """The graphs of the ``kept`` most recently used versions, shared by a worker's threads;
    the versions themselves are read through ``versions`` (the store's cache of them)."""

    def __init__(self, versions: pipelines_repo.VersionCache, kept: int = 8) -> None:
        self.versions = versions
        self._graphs: Cache[uuid.UUID, Dag] = Cache(kept)

    def get(self, conn: Connection, version_id: uuid.UUID) -> Dag:
        """The graph of a pipeline version (read in ``conn`` unless kept)."""
        found = self._graphs.get(version_id)
        if found is not None:
            return found
        version = pipelines_repo.versions_by_id(conn, [version_id], self.versions)[version_id]
        dag = Dag.build([step_from_dict(s.name, s.config) for s in version.steps])
        self._graphs.put(version_id, dag)
        return dag
