"""The step graph of a pipeline version, built once per process and kept for the next steps.

Versions never change. Every step of a run needs its version's graph (its inputs' writers),
and building it is linear in the version's steps: built per step, a 10,000-step run spent
quadratic time on it.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

from sqlalchemy import Connection

from headrace.domain.dag import Dag
from headrace.domain.pipeline import step_from_dict
from headrace.persistence.repositories import pipelines as pipelines_repo

KEPT = 8  # versions whose graphs a process keeps (the most recently used)

_kept: OrderedDict[uuid.UUID, Dag] = OrderedDict()
_lock = threading.Lock()


def version_dag(conn: Connection, version_id: uuid.UUID) -> Dag:
    """The graph of a pipeline version (read in ``conn`` unless kept)."""
    with _lock:
        if version_id in _kept:
            _kept.move_to_end(version_id)
            return _kept[version_id]
    version = pipelines_repo.versions_by_id(conn, [version_id])[version_id]
    dag = Dag.build([step_from_dict(s.name, s.config) for s in version.steps])
    with _lock:
        _kept[version_id] = dag
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return dag
