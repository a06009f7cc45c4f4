"""``GET /metrics``: Prometheus text format; open, or guarded by a scrape token of its own
(``HEADRACE_METRICS_TOKEN``) or by any API key (``HEADRACE_METRICS_REQUIRE_AUTH``)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr

from headrace.api.deps import require
from headrace.api.metrics import Metrics
from headrace.domain.access import Role
from headrace.errors import Unauthorized


def _token_guard(token: SecretStr) -> Callable[[Request], Awaitable[None]]:
    """A scraper sends a fixed token, not an organisation's key: the guard compares it in
    constant time and never touches the metadata store."""
    expected = token.get_secret_value().encode()

    async def guard(request: Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        sent = value.strip().encode() if scheme.lower() == "bearer" else b""
        if not hmac.compare_digest(sent, expected):
            raise Unauthorized("/metrics needs the metrics token: Authorization: Bearer <token>")

    return guard


def make_router(require_auth: bool, token: SecretStr | None = None) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    guard = []
    if token is not None and token.get_secret_value():
        guard = [Depends(_token_guard(token))]
    elif require_auth:
        guard = [Depends(require(Role.VIEWER))]

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
