"""The HTTP layer of the client: the key, retries with backoff, errors, pages, streams."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import httpx

from headrace.client.errors import HeadraceApiError, ServerUnreachable, retry_after

# A request that never reached the server is always safe to send again; one that may have been
# handled (a 502/504 or a dropped answer) only when sending it twice does no harm: its method
# says so, or it is a POST with its Idempotency-Key, which the server answers once.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# 429 and 503 say the request was not handled: safe to send again whatever the method.
RETRY_ANY_METHOD = frozenset({429, 503})
RETRY_IDEMPOTENT = frozenset({502, 504})

Files = Mapping[str, tuple[str, IO[bytes], str]]


@dataclass(frozen=True)
class Retry:
    """``attempts`` tries in all. In between, a random wait up to ``backoff`` seconds doubled
    each time (at most ``max_backoff``): "full jitter", so clients that failed together do
    not all come back together. An answer's ``Retry-After`` is honoured instead, up to
    ``max_retry_after`` seconds (a longer wait is not retried: the error is raised)."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 4.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1``: jittered, growing."""
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))

    def delay_after(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying again after ``response``: its ``Retry-After`` when
        it has one (None when that is longer than ``max_retry_after``), else ``delay``."""
        asked = retry_after(response)
        if asked is None:
            return self.delay(attempt)
        return asked if asked <= self.max_retry_after else None


def _idempotent(request: httpx.Request) -> bool:
    return request.method in IDEMPOTENT or "idempotency-key" in request.headers


def _should_retry(
    request: httpx.Request, response: httpx.Response | None, error: Exception | None
) -> bool:
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if error is not None:
        return _idempotent(request) and isinstance(error, httpx.TransportError)
    assert response is not None
    status = response.status_code
    if status == 409 and "idempotency-key" in request.headers:
        return _first_still_in_flight(response)
    return status in RETRY_ANY_METHOD or (status in RETRY_IDEMPOTENT and _idempotent(request))


def _first_still_in_flight(response: httpx.Response) -> bool:
    """A 409 that says the first request with this Idempotency-Key is still being handled:
    sent again a little later, it gets that request's answer."""
    response.read()
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("type") == "idempotency_key.busy" for e in errors)


def _rewind(files: Files | None) -> None:
    for _, stream, _ in (files or {}).values():
        stream.seek(0)


class Http:
    """One ``httpx.Client`` bound to a server and an API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        retry: Retry,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.retry = retry
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "headrace-client"},
            timeout=timeout,
            transport=transport,
        )

    def _send(self, request: httpx.Request, *, stream: bool, files: Files | None) -> httpx.Response:
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            _rewind(files)
            try:
                response = self.client.send(request, stream=stream)
            except httpx.TransportError as err:
                if last or not _should_retry(request, None, err):
                    raise ServerUnreachable(
                        f"cannot reach {self.client.base_url}: {err or type(err).__name__}"
                    ) from err
            else:
                wait = None if last else self.retry.delay_after(response, attempt)
                if wait is None or not _should_retry(request, response, None):
                    if response.status_code >= 400:
                        response.read()
                        response.close()
                        raise HeadraceApiError.of(response)
                    return response
                response.close()
                time.sleep(wait)
                continue
            time.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Files | None = None,
    ) -> httpx.Response:
        """Send with retries; a 4xx/5xx answer raises ``HeadraceApiError``. A POST carries an
        ``Idempotency-Key`` of its own, the same on each retry, so that a retried POST whose
        first answer was lost (a timeout, a 502) never creates twice."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else None
        # None, not {}: an empty mapping would wipe the query of a Link URL.
        request = self.client.build_request(
            method, path, params=clean or None, json=json, data=data, files=files, headers=headers
        )
        return self._send(request, stream=False, files=files)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, page after page, following ``Link: rel="next"``."""
        response = self.request("GET", path, params=params)
        while True:
            yield from response.json()
            following = response.links.get("next", {}).get("url")
            if not following:
                return
            response = self.request("GET", following)

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives (downloads, event streams)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        request = self.client.build_request(
            method,
            path,
            params=clean or None,
            headers=headers,
            timeout=timeout if timeout is not None else self.client.timeout,
        )
        response = self._send(request, stream=True, files=None)
        try:
            yield response
        finally:
            response.close()

    def close(self) -> None:
        self.client.close()
