"""Traces: a request's trace (from the caller's traceparent) goes on through the worker's run
span to each step's span, recorded by the SDK's in-memory exporter; with no tracing
configured nothing is added to a run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.services.run_trace import ANNOTATION, following_run
from headrace.telemetry import configure_tracing
from tests.factories import Api, make_pipeline, make_run

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _reset_globals() -> None:
    """Forget the global tracer provider (what OpenTelemetry's own test helpers do)."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_globals()
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    _reset_globals()


def _named(found: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [s for s in found if s.name == name]
    return span


def test_a_run_is_traced_from_the_request_through_the_worker_to_each_step(
    api: Api, runtime: Runtime, spans: InMemorySpanExporter
) -> None:
    pipeline = make_pipeline(api)
    traceparent = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
    r = api.post(
        f"/pipelines/{pipeline['id']}/runs/", json={}, headers={"traceparent": traceparent}
    )
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["argo_manifest"]["metadata"]["annotations"][ANNOTATION].startswith(f"00-{TRACE_ID}-")
    worker = open_worker(runtime)
    assert worker.claim(only=uuid.UUID(run["id"])) is not None
    assert worker.execute(uuid.UUID(run["id"])).value == "Succeeded"

    found = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in found}

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    # FastAPI's own server span of the request, in the caller's trace
    request = _named(found, "POST /pipelines/{pipeline_id}/runs/")
    assert request.kind is trace.SpanKind.SERVER
    assert request.parent is not None and f"{request.parent.span_id:016x}" == CALLER_SPAN
    followed = _named(found, f"run {run['name']}")
    assert "POST /pipelines/{pipeline_id}/runs/" in ancestors(followed)
    assert followed.attributes is not None
    assert followed.attributes["headrace.run_status"] == "Succeeded"
    for step in ("gen", "double", "total"):
        span = _named(found, f"step {step}")
        assert span.parent is not None and span.parent.span_id == followed.context.span_id
        assert span.attributes is not None
        assert span.attributes["headrace.step_status"] == "Succeeded"
    assert {f"{s.context.trace_id:032x}" for s in (request, followed)} == {TRACE_ID}
    # an Argo step pod, which has only the run's id, continues the same trace
    with following_run(runtime.db, uuid.UUID(run["id"]), "pod gen") as pod:
        assert f"{pod.get_span_context().trace_id:032x}" == TRACE_ID


def test_without_tracing_a_run_carries_no_trace(api: Api) -> None:
    pipeline = make_pipeline(api)
    run = make_run(api, pipeline["id"])
    assert ANNOTATION not in run["argo_manifest"]["metadata"].get("annotations", {})


def test_traces_are_off_unless_the_otel_settings_turn_them_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert configure_tracing() is False
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert configure_tracing() is False
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "headrace-test")
    _reset_globals()
    try:
        assert configure_tracing() is True
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "headrace-test"
        provider.shutdown()
    finally:
        _reset_globals()
