"""The FastAPI application, built from one Settings object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from headrace import __version__
from headrace.api import errors, openapi
from headrace.api.body_limit import BodyLimit
from headrace.api.created import Created
from headrace.api.docs import offline_app
from headrace.api.idempotency import Idempotency
from headrace.api.key_first import KeyFirst
from headrace.api.metrics import Metrics, RequestLatency
from headrace.api.routes import (
    datasets,
    events,
    keys,
    pipelines,
    runs,
    schedules,
    triggers,
    ui,
    webhooks,
)
from headrace.api.routes.metrics import make_router as metrics_router
from headrace.api.streams import StreamSlots
from headrace.errors import Unavailable
from headrace.execution.doorbell import Doorbell
from headrace.runtime import Runtime
from headrace.services import keys as keys_service
from headrace.settings import Settings


def create_app(
    settings: Settings, runtime: Runtime | None = None, doorbell: Doorbell | None = None
) -> FastAPI:
    """The API over ``runtime`` (the caller's to close), or over one built from ``settings``
    and closed when the app shuts down. Migrations are the caller's business: ``headrace
    serve`` applies them before it starts serving.

    ``doorbell`` is rung by each run created here, so that a worker claims it at once: by
    default this process's own (its in-process worker's); ``headrace serve --workers`` gives
    one that wakes its worker process."""
    owned = runtime is None
    rt = runtime if runtime is not None else Runtime.open(settings)
    database = rt.db
    doorbell = doorbell or Doorbell()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        """Runs the in-process worker (``HEADRACE_RUN_WORKER``) and its sweeper for as long as
        the app serves; then closes the runtime if it is the app's own."""
        try:
            async with _worker():
                yield
        finally:
            if owned:
                rt.close()

    @asynccontextmanager
    async def _worker() -> AsyncIterator[None]:
        if not settings.run_worker:
            yield
            return
        import threading

        from headrace.services.dispatch import start_dispatcher
        from headrace.services.executors import open_worker
        from headrace.services.sweep import start_sweeper

        worker = open_worker(rt, doorbell=doorbell)
        thread = threading.Thread(target=worker.serve, name="headrace-worker", daemon=True)
        thread.start()
        stop_sweeping = start_sweeper(rt)
        stop_dispatching = start_dispatcher(rt)
        try:
            yield
        finally:
            worker.stop()
            stop_sweeping.set()
            stop_dispatching()
            thread.join(timeout=10)

    app = offline_app(  # FastAPI, with /docs and /redoc that work with no internet
        lifespan=lifespan,
        title="headrace",
        version=__version__,
        description="Data pipelines as versioned SQL steps over versioned Delta datasets.",
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.runtime = rt
    app.state.db = database
    app.state.doorbell = doorbell
    app.state.key_cache = keys_service.KeyCache(settings.key_cache_seconds)
    app.state.streams = StreamSlots(settings.max_streams_per_key)
    app.state.metrics = Metrics(database, settings.lease_seconds)
    app.add_middleware(Created)
    app.add_middleware(Idempotency)
    app.add_middleware(KeyFirst)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        paths={datasets.UPSERT_PATH: settings.max_upsert_bytes, datasets.UPLOAD_PATH: None},
    )
    app.add_middleware(RequestLatency, metrics=app.state.metrics)
    errors.install(app)
    openapi.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness, and the version serving; no key needed."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"], responses=openapi.errors(503))
    def readyz(request: Request) -> dict[str, str]:
        """Readiness: 200 while the metadata store answers, 503 while it does not, so a
        process cut off from it takes no requests; no key needed."""
        if not request.app.state.db.reachable():
            raise Unavailable("the metadata store does not answer")
        return {"status": "ok", "version": __version__}

    for module in (keys, pipelines, runs, events, datasets, schedules, triggers, webhooks, ui):
        app.include_router(module.router)
    app.include_router(metrics_router(settings.metrics_require_auth, settings.metrics_token))
    return app
