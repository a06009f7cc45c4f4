"""``GET /metrics``: Prometheus text format; open, or any API key when the setting says so."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from headrace.api.deps import require
from headrace.api.metrics import Metrics
from headrace.domain.access import Role


def make_router(require_auth: bool) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    guard = [Depends(require(Role.VIEWER))] if require_auth else []

    @router.get(
        "/metrics",
        dependencies=guard,
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def metrics(request: Request) -> Response:
        """Runs and steps by status, step durations, queue wait, workers, request latency."""
        exposition: Metrics = request.app.state.metrics
        return Response(exposition.render(), media_type=CONTENT_TYPE_LATEST)

    return router
