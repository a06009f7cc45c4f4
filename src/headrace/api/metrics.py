"""Prometheus exposition of the API: request latency by route (measured here, per process)
and the metadata store's view of runs, steps and workers (queried at each scrape)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headrace.domain.runs import RunStatus, StepStatus
from headrace.persistence.db import Database
from headrace.services import metrics
from headrace.services.metrics import Histogram as StoreHistogram


def _histogram(name: str, doc: str, h: StoreHistogram) -> HistogramMetricFamily:
    buckets = [(f"{b:g}", float(n)) for b, n in zip(h.bounds, h.cumulative, strict=True)]
    buckets.append(("+Inf", float(h.count)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=h.sum)


class StoreCollector(Collector):
    """Runs, steps and workers as the metadata store records them."""

    def __init__(self, db: Database, lease_seconds: float) -> None:
        self.db = db
        self.lease_seconds = lease_seconds

    def collect(self) -> Iterator[Metric]:
        found = metrics.collect(self.db, self.lease_seconds)
        runs = GaugeMetricFamily("headrace_runs", "Runs by status.", labels=["status"])
        for status in RunStatus:
            runs.add_metric([status.value], found.runs_by_status.get(status.value, 0))
        yield runs
        steps = GaugeMetricFamily("headrace_run_steps", "Run steps by status.", labels=["status"])
        for step_status in StepStatus:
            steps.add_metric([step_status.value], found.steps_by_status.get(step_status.value, 0))
        yield steps
        yield _histogram(
            "headrace_step_duration_seconds",
            "Time from a step's start to its end, over the steps that ran.",
            found.step_seconds,
        )
        yield _histogram(
            "headrace_run_queue_wait_seconds",
            "Time from a run's creation (Pending) to the start of its first step.",
            found.queue_wait_seconds,
        )
        yield GaugeMetricFamily(
            "headrace_run_steps_reused",
            "Run steps not executed because an earlier run's result of them was reused.",
            value=found.reused_steps,
        )
        yield GaugeMetricFamily(
            "headrace_reuse_saved_seconds",
            "What the reused steps took when they were computed: the time reuse saved.",
            value=found.saved_seconds,
        )
        yield GaugeMetricFamily(
            "headrace_workers_active",
            "Workers holding an unexpired lease on a run.",
            value=sum(1 for w in found.workers if w.active),
        )
        heartbeat = GaugeMetricFamily(
            "headrace_worker_last_heartbeat_timestamp_seconds",
            "When each worker holding a run last renewed its lease (Unix time).",
            labels=["worker"],
        )
        for worker in found.workers:
            heartbeat.add_metric([worker.worker_id], worker.last_heartbeat.timestamp())
        yield heartbeat


class Metrics:
    """One registry per app, so that several apps in one process (tests) stay apart.

    When the server runs several API processes (``headrace serve --workers``), each scrape
    reaches one of them, so the request latencies are kept the way ``prometheus_client``'s
    multiprocess mode keeps them: every process writes its own file in the folder named by
    ``PROMETHEUS_MULTIPROC_DIR`` (set by the parent before the processes start, read by
    ``prometheus_client`` when it is imported), and a scrape sums the folder's files."""

    def __init__(self, db: Database, lease_seconds: float) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "headrace_http_request_duration_seconds",
            "Time from a request's arrival to its response's start, by route.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.exposed = self.registry
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if shared:
            # The histogram above still records (into this process's file); what is exposed
            # is every process's files, not this process's registry.
            self.exposed = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(self.exposed, shared)  # type: ignore[no-untyped-call]
        self.exposed.register(StoreCollector(db, lease_seconds))

    def render(self) -> bytes:
        return generate_latest(self.exposed)


class RequestLatency:
    """ASGI middleware timing each request up to the start of its response (so a long
    event stream counts the time to its first byte), labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", None)
                # A path's twin without its trailing slash counts as the same route.
                label = (route.rstrip("/") or "/") if route else "unmatched"
                self.metrics.latency.labels(scope["method"], label, str(message["status"])).observe(
                    time.perf_counter() - started
                )
            await send(message)

        await self.app(scope, receive, timed)
