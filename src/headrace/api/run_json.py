"""Runs as the API writes them: ``RunRead`` models, and the JSON of ended runs kept ready.

A page of 100 runs is ~0.7 MB of JSON (each run carries its manifest, its steps and its
pipeline version), and reading, validating and serialising it cost ~85 ms of CPU. An ended
run never changes: its status, its steps' ends and its final ``argo_metadata`` are written in
one transaction and nothing writes to it afterwards. So each process keeps the JSON of the
ended runs it has served, and a page of them is those bytes spliced together. Runs still in
progress are read and serialised afresh on every request.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from headrace.domain.records import RunHead
from headrace.domain.runs import RunStatus
from headrace.schemas.pipelines import PipelineVersionRead
from headrace.schemas.runs import RunRead
from headrace.services.runs import RunPage, RunView

# FastAPI serialises a ``response_model`` with its TypeAdapter's ``dump_json(by_alias=True)``;
# a list of models is ``[`` + the models joined by ``,`` + ``]``. The same serialiser here
# keeps a spliced page byte for byte what FastAPI would have sent for the models.
_RUN = TypeAdapter(RunRead)


def models(views: Sequence[RunView]) -> list[RunRead]:
    """Each distinct version is converted once, however many runs share it."""
    versions: dict[uuid.UUID, PipelineVersionRead] = {}
    out = []
    for view in views:
        version = versions.get(view.version.id)
        if version is None:
            version = versions[view.version.id] = PipelineVersionRead.of(view.version)
        out.append(RunRead.of(view.run, version))
    return out


@dataclass(frozen=True)
class _Kept:
    status: str
    body: bytes


class EndedRuns:
    """The JSON of ended runs by id, least recently used out first past ``max_bytes``.

    The status a run's JSON was made at is kept with it and must match the page's row for the
    JSON to be used: a guard, since an ended run does not change."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self._items: OrderedDict[uuid.UUID, _Kept] = OrderedDict()

    def get(self, heads: Sequence[RunHead]) -> dict[uuid.UUID, bytes]:
        """The JSON kept for each of ``heads`` that has some (one lock for a page)."""
        found = {}
        with self._lock:
            for head in heads:
                kept = self._items.get(head.id)
                if kept is not None and kept.status == head.status:
                    self._items.move_to_end(head.id)
                    found[head.id] = kept.body
        return found

    def put(self, model: RunRead, body: bytes) -> None:
        """Keep ``body``, the JSON of ``model``, if the run has ended."""
        if model.finished_at is None or not RunStatus(model.status).terminal:
            return
        with self._lock:
            old = self._items.pop(model.id, None)
            self._bytes -= len(old.body) if old else 0
            self._items[model.id] = _Kept(model.status, body)
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.body)


ended = EndedRuns()


def page(found: RunPage[bytes], kept: EndedRuns = ended) -> bytes:
    """The JSON array of the page's runs: kept bytes for ended runs already served, the rest
    serialised now (and kept when they have ended)."""
    ids = list(found.read)
    fresh = dict(zip(ids, models([found.read[i] for i in ids]), strict=True))
    parts = []
    for head in found.heads:
        body = found.kept.get(head.id)
        if body is None:
            model = fresh[head.id]
            body = _RUN.dump_json(model, by_alias=True)
            kept.put(model, body)
        parts.append(body)
    return _array(parts)


def _array(items: list[bytes]) -> bytes:
    """``[a,b,…]`` in one join: ``b"[" + b",".join(items) + b"]"`` copied a page (~0.7 MB)
    three times."""
    if not items:
        return b"[]"
    pieces = [b"["]
    for item in items:
        pieces += (item, b",")
    pieces[-1] = b"]"
    return b"".join(pieces)
