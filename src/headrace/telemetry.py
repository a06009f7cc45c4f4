"""OpenTelemetry traces, off unless the standard ``OTEL_*`` settings turn them on.

``OTEL_TRACES_EXPORTER`` names the exporter (``otlp``, ``console``; unset or ``none``: no
traces) and ``OTEL_SDK_DISABLED=true`` turns everything off; the SDK itself reads the rest
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_*``). The OTLP exporter is a package of its own
(``opentelemetry-exporter-otlp-proto-http``), installed by whoever sends traces somewhere.

The code everywhere else uses only the OpenTelemetry API, and only once it is loaded: a
request (FastAPI's own server span), the run a worker follows and each step are spans of one
trace, the run's context carried from the request to the worker, or to an Argo step pod, in
the run's manifest (``services/run_trace.py``), and from the worker to its step threads with
the thread's context.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("headrace.telemetry")


def configure_tracing(default_service: str = "headrace") -> bool:
    """Install a tracer provider with the exporter ``OTEL_TRACES_EXPORTER`` names; whether
    traces are on."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    disabled = os.environ.get("OTEL_SDK_DISABLED", "false").strip().lower() == "true"
    if disabled or exporter_name in ("", "none"):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError:
            log.warning(
                "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http; "
                "no traces are sent"
            )
            return False
        exporter = OTLPSpanExporter()
    else:
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported; no traces are sent", exporter_name)
        return False
    service = os.environ.get("OTEL_SERVICE_NAME") or default_service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True
