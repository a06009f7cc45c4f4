"""Runs as the API writes them: ``RunRead`` models, one run as a finished response, and a
page of runs as JSON spliced from the bytes kept of ended runs (``services/ended_runs.py``)
and the rest serialised now.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from fastapi.responses import Response
from pydantic import TypeAdapter

from headrace.schemas.pipelines import PipelineVersionRead
from headrace.schemas.runs import RunRead
from headrace.services.ended_runs import EndedRuns
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


def response(
    view: RunView, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """One run as its route answers it, the bytes FastAPI would send for its ``RunRead``.
    Serialised here, once: given the model, FastAPI would first validate it again, in a
    second hop to its thread pool, on every run created, read or cancelled."""
    body = _RUN.dump_json(models([view])[0], by_alias=True)
    return Response(body, status_code, headers, media_type="application/json")


def page(found: RunPage[bytes], kept: EndedRuns) -> bytes:
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
            kept.put(model.id, model.status, body, finished=model.finished_at is not None)
        parts.append(body)
    return _array(parts)


def _array(items: list[bytes]) -> bytes:
    """``[a,b,…]`` in one join: ``b"[" + b",".join(items) + b"]"`` would copy a page three
    times."""
    if not items:
        return b"[]"
    pieces = [b"["]
    for item in items:
        pieces += (item, b",")
    pieces[-1] = b"]"
    return b"".join(pieces)
