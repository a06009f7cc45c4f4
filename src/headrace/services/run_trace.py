"""A run's place in a trace, carried from the request that created it to whoever executes it.

The request's trace context (W3C ``traceparent``) is stored as an annotation of the run's
Argo manifest, which every executor already has; the worker continues the trace from it,
and so does an Argo step pod (``headrace step exec``), which reads its run by id.
Nothing is added while no trace is being recorded. OpenTelemetry is used only once it is
loaded (``headrace/telemetry.py`` loads it when traces are on; the API's framework loads its
API): ``headrace run`` and a worker without traces never import it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo

ANNOTATION = "headrace.io/traceparent"


def loaded() -> ModuleType | None:
    """``opentelemetry.trace`` if something has loaded it, else None (no traces)."""
    return sys.modules.get("opentelemetry.trace")


def annotate(manifest: dict[str, Any]) -> None:
    """Record the current trace context on ``manifest`` (when a span is being recorded)."""
    trace = loaded()
    if trace is None or not trace.get_current_span().is_recording():
        return
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" in carrier:
        annotations = manifest.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[ANNOTATION] = carrier["traceparent"]


@contextmanager
def following(manifest: dict[str, Any], name: str, **attributes: str) -> Iterator[Any]:
    """A span ``name`` in the trace the run was created in (a root span when it has none),
    current for the block; None while OpenTelemetry is not loaded."""
    trace = loaded()
    if trace is None:
        yield None
        return
    from opentelemetry import context, propagate

    parent = manifest.get("metadata", {}).get("annotations", {}).get(ANNOTATION)
    ctx = propagate.extract({"traceparent": parent}) if parent else context.Context()
    tracer = trace.get_tracer("headrace")
    with tracer.start_as_current_span(name, context=ctx, attributes=attributes) as span:
        yield span


@contextmanager
def following_run(db: Database, run_id: uuid.UUID, name: str, **attributes: str) -> Iterator[Any]:
    """``following`` the stored run (for a step pod, which has only the run's id)."""
    with db.unit_of_work(write=False) as conn:
        run = runs_repo.get_by_id(conn, run_id)
    with following(run.argo_manifest if run else {}, name, **attributes) as span:
        yield span
