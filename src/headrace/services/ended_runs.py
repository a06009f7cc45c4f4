"""The JSON of ended runs, kept ready for the run listing.

A page of runs is a lot of JSON (each run carries its manifest, its steps and its pipeline
version), and reading, validating and serialising it is most of a listing's cost.
An ended run never changes: its status, its steps' ends and its final ``argo_metadata`` are
written in one transaction and nothing writes to it afterwards. So a process keeps the JSON
of the ended runs it has served (``api/run_json.py`` splices a page of them together), in a
cache of its ``Runtime``. Runs still in progress are read and serialised afresh every time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from headrace.caching import Cache
from headrace.domain.records import RunHead
from headrace.domain.runs import RunStatus


@dataclass(frozen=True)
class _Kept:
    status: str
    body: bytes


class EndedRuns:
    """The JSON of ended runs by id, least recently used out first past ``max_bytes``.

    The status a run's JSON was made at is kept with it and must match the page's row for the
    JSON to be used: a guard, since an ended run does not change."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self._items: Cache[uuid.UUID, _Kept] = Cache(max_bytes, sizeof=lambda k: len(k.body))

    def get(self, heads: Sequence[RunHead]) -> dict[uuid.UUID, bytes]:
        """The JSON kept for each of ``heads`` that has some (one lock for a page)."""
        kept = self._items.get_many(h.id for h in heads)
        return {
            h.id: kept[h.id].body for h in heads if h.id in kept and kept[h.id].status == h.status
        }

    def put(self, run_id: uuid.UUID, status: str, body: bytes, *, finished: bool) -> None:
        """Keep ``body``, the JSON of the run, if the run has ended."""
        if finished and RunStatus(status).terminal:
            self._items.put(run_id, _Kept(status, body))
